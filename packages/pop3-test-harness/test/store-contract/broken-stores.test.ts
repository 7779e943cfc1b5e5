import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const here = fileURLToPath(new URL(".", import.meta.url));
const vitest = fileURLToPath(new URL("../../node_modules/vitest/vitest.mjs", import.meta.url));

interface JsonReport {
  testResults: { assertionResults: { fullName: string; status: string }[] }[];
}

/** Runs the contract over the two broken stores of fixtures/ in a vitest of its own. */
async function runBrokenStores(): Promise<Map<string, string>> {
  const output = join(tmpdir(), `pop3-broken-stores-${process.pid}.json`);
  await new Promise<void>((resolve) => {
    execFile(
      process.execPath,
      [vitest, "run", "--config", "vitest.config.ts", "--reporter=json", `--outputFile=${output}`],
      { cwd: join(here, "fixtures") },
      () => resolve(), // it exits 1: tests fail, as they must
    );
  });
  const report = JSON.parse(await readFile(output, "utf8")) as JsonReport;
  await rm(output, { force: true });
  const results = report.testResults.flatMap((file) => file.assertionResults);
  return new Map(results.map((r) => [r.fullName, r.status]));
}

it("fails a store that reports stored lengths, or deletes on release, where it is wrong", async () => {
  const results = await runBrokenStores();
  const failed = (store: string) =>
    [...results]
      .filter(
        ([name, status]) => name.startsWith(`MailStore contract: ${store} `) && status !== "passed",
      )
      .map(([name]) => name.slice(`MailStore contract: ${store} `.length))
      .sort();

  // The samples whose RFC size differs from their length; every other test passes.
  expect(failed("StoredLengthSizes")).toEqual([
    "reports the RFC size and reads the exact bytes: NUL and 8-bit bytes",
    "reports the RFC size and reads the exact bytes: bare CR line ends",
    "reports the RFC size and reads the exact bytes: bare LF line ends",
    "reports the RFC size and reads the exact bytes: no final line end",
    "streams a 30 MB message in chunks of at most 64 KiB with the right size",
  ]);
  expect(failed("DeletesOnRelease")).toContain("release deletes nothing");
  expect(results.size).toBeGreaterThan(40);
}, 120_000);
