import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, runCli, tempDir } from "./helpers";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

let home: string;
beforeAll(async () => {
  home = await tempDir();
});
afterAll(async () => {
  await removeDir(home);
});

describe("pop3 --version", () => {
  it("prints package.json's version and exits 0 (-V too)", async () => {
    const manifest = JSON.parse(await readFile(join(PACKAGE_DIR, "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-V"]) {
      const run = await runCli(home, [flag]);
      expect(run.code, run.err).toBe(0);
      expect(run.out).toBe(`${manifest.version}\n`);
      expect(run.err).toBe("");
    }
  });

  it("reads the package.json installed beside dist/, not a copy bundled at build time", async () => {
    // An installed layout: <pkg>/package.json, <pkg>/dist/index.js, dependencies resolvable.
    const pkg = join(home, "installed");
    await mkdir(pkg);
    await cp(join(PACKAGE_DIR, "dist"), join(pkg, "dist"), { recursive: true });
    await symlink(join(PACKAGE_DIR, "node_modules"), join(pkg, "node_modules"));
    await writeFile(join(pkg, "package.json"), JSON.stringify({ version: "9.8.7-test" }));
    const run = spawnSync(process.execPath, [join(pkg, "dist", "index.js"), "--version"], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: home },
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe("9.8.7-test\n");
  });
});
