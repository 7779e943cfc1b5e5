import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MaildirStore } from "../../src/index";
import { EDGE_MESSAGES, RawClient, startServer, type TestServer, wireForm } from "../support";

let root: string;
let t: TestServer<MaildirStore>;
const names = Object.keys(EDGE_MESSAGES);

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "pop3-maildir-server-"));
  const maildir = join(root, "alice", "Maildir");
  for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  // Delivered as an MTA would: one file per message in new/, names in delivery order.
  names.forEach((name, i) => {
    writeFileSync(
      join(maildir, "new", `${1700000000 + i}.M${i}P1.test`),
      EDGE_MESSAGES[name] as Uint8Array,
    );
  });
  t = await startServer({}, new MaildirStore({ root }));
});
afterEach(async () => {
  await t.close();
  rmSync(root, { recursive: true, force: true });
});

describe("the server over a Maildir", () => {
  it("serves every edge-case message byte for byte and deletes files only at QUIT", async () => {
    const client = await RawClient.connect(t.port);
    await client.login();
    for (const [i, name] of names.entries()) {
      const expected = wireForm(EDGE_MESSAGES[name] as Uint8Array);
      expect(await client.command(`RETR ${i + 1}`)).toBe(`+OK ${expected.length} octets`);
      expect(await client.body(), name).toEqual(expected);
    }
    expect(await client.command("DELE 1")).toMatch(/^\+OK/);
    expect(await client.command("DELE 2")).toMatch(/^\+OK/);
    const cur = join(root, "alice", "Maildir", "cur");
    expect(readdirSync(cur)).toHaveLength(names.length);
    expect(await client.command("QUIT")).toMatch(/^\+OK/);
    await client.closed();
    const left = readdirSync(cur);
    expect(left).toHaveLength(names.length - 2);
    expect(left.every((f) => f.endsWith(":2,"))).toBe(true);
  });

  it("keeps uids across sessions after new mail has moved to cur/", async () => {
    const first = await RawClient.connect(t.port);
    await first.login();
    await first.command("UIDL");
    const before = await first.lines();
    await first.command("QUIT");
    await first.closed();
    const second = await RawClient.connect(t.port);
    await second.login();
    await second.command("UIDL");
    expect(await second.lines()).toEqual(before);
    second.close();
  });
});
