import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MaildirStore } from "pop3-server";
import { afterAll } from "vitest";
import { storeContract } from "../../src/store-contract/index";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

let sequence = 0;

/** Delivers as an MDA does: write into tmp/, then rename into new/ under a unique name. */
async function deliver(store: MaildirStore, user: string, bytes: Uint8Array): Promise<void> {
  sequence++;
  const name = `${1_700_000_000 + sequence}.M${sequence}P${process.pid}Q${sequence}.testhost`;
  const dir = store.maildirPath(user);
  for (const sub of ["cur", "new", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, "tmp", name), bytes);
  await rename(join(dir, "tmp", name), join(dir, "new", name));
}

storeContract("MaildirStore", {
  createStore: async () => {
    const root = await mkdtemp(join(tmpdir(), "pop3-store-contract-"));
    roots.push(root);
    return new MaildirStore({ root });
  },
  deliver,
});
