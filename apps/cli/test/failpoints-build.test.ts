import { execFile, execFileSync } from "node:child_process";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, type Fixture, makeMessages, readMaildir, startFixture, USER } from "./helpers";

/**
 * Crash-test failpoints (POP3_CLI_FAILPOINT) must not be reachable in the published build. The
 * tests' own build (test/global-setup.ts → dist/) keeps them for crash.test.ts; `pnpm build`
 * (plain `tsup`) must drop them. Built here into a folder inside the package, so the bundle's
 * external imports and its ../package.json resolve as they do from dist/.
 */
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const PUBLISHED = join(PACKAGE_DIR, `.published-build-test-${process.pid}`);

let f: Fixture;
beforeAll(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env["POP3_CLI_BUILD_FAILPOINTS"];
  execFileSync(join(PACKAGE_DIR, "node_modules/.bin/tsup"), ["--out-dir", PUBLISHED], {
    cwd: PACKAGE_DIR,
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  f = await startFixture();
  for (const m of makeMessages(2, { seed: 17 })) f.server.addMessage(USER, m);
});
afterAll(async () => {
  await f?.close();
  await rm(PUBLISHED, { recursive: true, force: true });
});

async function scripts(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".js"));
  return Promise.all(names.map((n) => readFile(join(dir, n), "utf8")));
}

describe("failpoints", () => {
  it("the published build has no trace of POP3_CLI_FAILPOINT; the tests' build has", async () => {
    const published = await scripts(PUBLISHED);
    expect(published.length).toBeGreaterThan(0);
    for (const text of published) expect(text).not.toContain("POP3_CLI_FAILPOINT");
    // Otherwise crash.test.ts would silently test nothing.
    expect(await readFile(CLI, "utf8")).toContain("POP3_CLI_FAILPOINT");
  });

  it("the published build ignores POP3_CLI_FAILPOINT: fetch runs to the end", async () => {
    const maildir = join(f.home, "M");
    // Asynchronously: the test server runs in this process.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(PUBLISHED, "index.js"), "fetch", f.url, ...f.trust, "--maildir", maildir, "--json"],
      {
        env: {
          PATH: process.env["PATH"] ?? "/usr/bin:/bin",
          HOME: f.home,
          NETRC: join(f.home, "no-netrc"),
          POP3_PASSWORD: f.env["POP3_PASSWORD"],
          POP3_CLI_FAILPOINT: "recorded:1",
        },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    const done = JSON.parse(stdout.trimEnd().split("\n").at(-1) as string) as Record<
      string,
      unknown
    >;
    expect(done).toMatchObject({ event: "done", stored: 2, exitCode: 0 });
    expect((await readMaildir(maildir)).files.size).toBe(2);
  });
});
