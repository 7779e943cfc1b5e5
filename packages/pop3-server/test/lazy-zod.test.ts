import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "tsup";
import { afterAll, beforeAll, expect, it } from "vitest";

/**
 * zod is most of a cold import's time, so pop3-server loads it on the first `createServer`, not on
 * import. Checked on a fresh build of src placed where pop3-core resolves and zod does not: the
 * import must succeed, and `createServer` must then fail for want of zod (it is still needed, lazily).
 */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "pop3-server-lazy-zod-"));
  await mkdir(join(folder, "node_modules"));
  await symlink(join(root, "node_modules", "pop3-core"), join(folder, "node_modules", "pop3-core"));
  await writeFile(join(folder, "package.json"), JSON.stringify({ type: "module" }));
  await build({
    config: false,
    entry: { "pop3-server": join(root, "src", "index.ts") },
    format: ["esm"],
    platform: "node",
    target: "node20",
    outDir: folder,
    external: ["pop3-core", "zod"],
    tsconfig: join(root, "tsconfig.json"),
    silent: true,
  });
}, 60_000);
afterAll(async () => {
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

it("imports without zod, and loads it on the first createServer", async () => {
  const script = `
    const { createServer, MemoryStore, staticUsers } = await import("./pop3-server.js");
    console.log("imported");
    try {
      createServer({ store: new MemoryStore(), auth: staticUsers({}), plain: { port: 0 } });
      console.log("created");
    } catch (error) {
      console.log(error.code ?? "", error.message.split("\\n")[0]);
    }
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--input-type=module", "-e", script],
    // pnpm sets NODE_PATH to its store, where zod would be found after all.
    { cwd: folder, env: { ...process.env, NODE_PATH: "" } },
  );
  const [imported, created] = stdout.trim().split("\n");
  expect(imported).toBe("imported");
  expect(created).toMatch(/Cannot find module 'zod'/);
});
