import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { declareFetchOptions } from "../src/commands/fetch";
import {
  type Fixture,
  makeMessages,
  readMaildir,
  removeDir,
  runCli,
  serverIdle,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

/** fetch's policy flags against the harness's real server: --keep, --delete-after, --size-mismatch, --quiet/--verbose. */

let f: Fixture;
const messages = makeMessages(6, { large: [4], seed: 33 });
let uids: string[] = [];
let dest: string;

beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f.close();
});
beforeEach(async () => {
  f.server.reset();
  f.server.faults.clear();
  uids = messages.map((m) => f.server.addMessage(USER, m).uid);
  dest = await tempDir("pop3-policy-");
});
afterEach(async () => {
  f.server.faults.clear();
  await serverIdle(f.server);
  await removeDir(dest);
});

const fetch = (...args: string[]) =>
  runCli(f.home, ["fetch", f.url, ...f.trust, ...args], { env: f.env });
const fetchPlain = (...args: string[]) =>
  runCli(f.home, ["fetch", f.url, "--tls", "none", ...args], { env: f.env });
const events = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const deleted = () => f.server.deletions.flatMap((d) => d.uids);

/** Moves the "first stored" date of these UIDs `days` into the past, in the state file itself. */
async function age(statePath: string, which: readonly string[], days: number): Promise<void> {
  const lines = (await readFile(statePath, "utf8")).trimEnd().split("\n");
  const past = new Date(Date.now() - days * 86_400_000).toISOString();
  const aged = lines.map((line) => {
    const value = JSON.parse(line) as Record<string, unknown>;
    return which.includes(value["uid"] as string) ? JSON.stringify({ ...value, at: past }) : line;
  });
  await writeFile(statePath, `${aged.join("\n")}\n`);
}

describe("--keep", () => {
  it("never deletes, and says so explicitly", async () => {
    const dir = join(dest, "M");
    const r = await fetch("--maildir", dir, "--keep", "--json");
    expect(r.code, r.err).toBe(0);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 6, deleted: 0, committed: null });
    expect(deleted()).toEqual([]);
    expect(f.server.messages(USER)).toHaveLength(6);
  });

  it("conflicts with --delete and --delete-after (exit 1); so do --delete and --delete-after", async () => {
    const dir = join(dest, "M");
    for (const flags of [
      ["--keep", "--delete"],
      ["--keep", "--delete-after", "3"],
      ["--delete", "--delete-after", "3"],
    ]) {
      const r = await fetch("--maildir", dir, ...flags);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.err).toMatch(/cannot be used with/);
    }
    expect((await readMaildir(dir)).files.size).toBe(0);
    expect((await fetch("--maildir", dir, "--delete-after", "soon")).code).toBe(1);
  });
});

describe("--delete-after DAYS", () => {
  it("deletes a stored message once it was first stored DAYS ago, and only then", async () => {
    const dir = join(dest, "M");
    const state = join(dir, ".pop3-fetch-state.json");
    const first = await fetch("--maildir", dir, "--delete-after", "7", "--json");
    expect(first.code, first.err).toBe(0);
    expect(events(first.out).at(-1)).toMatchObject({ stored: 6, deleted: 0 });
    expect(deleted()).toEqual([]);

    // Three of them were first stored 8 days ago, one 6 days ago.
    await age(state, uids.slice(0, 3), 8);
    await age(state, [uids[3] as string], 6);
    const second = await fetch("--maildir", dir, "--delete-after", "7", "--json");
    expect(second.code, second.err).toBe(0);
    expect(events(second.out).at(-1)).toMatchObject({ stored: 0, deleted: 3, committed: true });
    expect(deleted()).toEqual(uids.slice(0, 3));
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual(uids.slice(3));
  });

  it("0 deletes what this run stored, but never a message that is not stored (--max-size)", async () => {
    const dir = join(dest, "M");
    const r = await fetch("--maildir", dir, "--delete-after", "0", "--max-size", "100k", "--json");
    expect(r.code, r.err).toBe(0);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 5, skipped: 1, deleted: 5 });
    expect(f.server.messages(USER).map((m) => m.uid)).toEqual([uids[4]]);
  });

  it("an mbox too; a message stored again (--all) keeps its first date", async () => {
    const mbox = join(dest, "inbox");
    expect((await fetch("--mbox", mbox, "--delete-after", "1")).code).toBe(0);
    await age(`${mbox}.pop3-fetch-state.json`, [uids[0] as string], 2);
    // --all appends every message again: message 1 is still 2 days old, the others new.
    const r = await fetch("--mbox", mbox, "--all", "--delete-after", "1", "--json");
    expect(r.code, r.err).toBe(0);
    expect(events(r.out).at(-1)).toMatchObject({ stored: 6, deleted: 1 });
    expect(deleted()).toEqual([uids[0]]);
  });
});

describe("--size-mismatch", () => {
  it("warn: a message whose size differs from LIST is stored, with a warning event and a warning on stderr", async () => {
    const dir = join(dest, "M");
    f.server.faults.add({ on: "LIST", times: 1, fault: { type: "wrong-size", delta: -3 } });
    const r = await fetchPlain("--maildir", dir, "--size-mismatch", "warn", "--json");
    expect(r.code, r.err).toBe(0);
    const warnings = events(r.out).filter((e) => e["event"] === "warning");
    expect(warnings.map((e) => e["uid"])).toEqual(uids);
    for (const [i, e] of warnings.entries()) {
      expect(e).toMatchObject({
        msg: i + 1,
        code: "POP3_TRUNCATED",
        message: `message ${i + 1}: LIST said ${(messages[i] as Buffer).length - 3} octets, received ${(messages[i] as Buffer).length}`,
      });
    }
    expect(r.err.match(/^warning: message \d+: LIST said/gm)).toHaveLength(6);
    const stored = [...(await readMaildir(dir)).files.values()].map((b) => b.toString("latin1"));
    expect(stored.sort()).toEqual(messages.map((m) => m.toString("latin1")).sort());
  });

  it("error (the default, also explicit): not stored, reported as failed, exit 6", async () => {
    const dir = join(dest, "M");
    f.server.faults.add({ on: "LIST", times: 1, fault: { type: "wrong-size", delta: 5 } });
    const r = await fetchPlain("--maildir", dir, "--size-mismatch", "error", "--delete", "--json");
    expect(r.code).toBe(6);
    expect(events(r.out).filter((e) => e["event"] === "failed")).toHaveLength(6);
    expect((await readMaildir(dir)).files.size).toBe(0);
    expect(deleted()).toEqual([]);
    expect((await fetch("--maildir", dir, "--size-mismatch", "sometimes")).code).toBe(1);
  });
});

describe("--quiet and --verbose", () => {
  it("--quiet prints nothing when all goes well; warnings and errors still come", async () => {
    const quiet = await fetch("--maildir", join(dest, "Q"), "--quiet");
    expect(quiet.code, quiet.err).toBe(0);
    expect(quiet.out).toBe("");
    expect(quiet.err).toBe("");
    // -q; a failure is still reported on stderr.
    f.server.faults.add({ on: "RETR", times: 1, fault: { type: "error", text: "try later" } });
    const failing = await fetchPlain("--maildir", join(dest, "Q2"), "-q");
    expect(failing.code).toBe(6);
    expect(failing.out).toBe("");
    expect(failing.err).toMatch(/^warning: message 1 \(.*\): RETR 1 failed: try later$/m);
  });

  it("--verbose says what happens to each message on stderr; the summary stays on stdout", async () => {
    const r = await fetch(
      "--maildir",
      join(dest, "V"),
      "--verbose",
      "--max-size",
      "100k",
      "--delete",
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^stored 5 messages .*, 1 skipped, 5 deleted from the server\n$/);
    expect(r.err).toMatch(
      /^alice@127\.0\.0\.1: 6 on the server, 0 stored before, 1 skipped, fetching 5 /m,
    );
    for (const [i, uid] of uids.entries()) {
      if (i === 4) {
        expect(r.err).toContain(`message 5 (${uid}): skipped, `);
        continue;
      }
      expect(r.err).toMatch(
        new RegExp(
          `^message ${i + 1} \\(${uid.replace(".", "\\.")}\\): stored, .*new/\\d+\\.M`,
          "m",
        ),
      );
      expect(r.err).toContain(`message ${i + 1} (${uid}): marked for deletion`);
    }
  });

  it("--quiet and --verbose exclude each other; --json is the same at every verbosity", async () => {
    expect((await fetch("--maildir", join(dest, "X"), "-q", "-v")).code).toBe(1);
    const a = await fetch("--maildir", join(dest, "A"), "--json", "--quiet");
    f.server.reset();
    for (const m of messages) f.server.addMessage(USER, m);
    const b = await fetch("--maildir", join(dest, "B"), "--json", "--verbose");
    // Progress events depend on how the bytes arrive; the others do not.
    const shape = (out: string) =>
      events(out)
        .map((e) => e["event"])
        .filter((e) => e !== "progress");
    expect(shape(a.out)).toEqual(shape(b.out));
    // No per-message lines on stderr with --json: the events say it.
    expect(b.err).not.toMatch(/^message \d/m);
  });
});

describe("fetch --help", () => {
  it("lists every flag of fetch's own, and the README's fetch section explains each", async () => {
    const help = await runCli(f.home, ["fetch", "--help"]);
    expect(help.code).toBe(0);
    const own = declareFetchOptions(new Command("fetch")).options.map((o) => o.long as string);
    expect(own).toEqual(
      expect.arrayContaining([
        "--mda",
        "--mda-timeout",
        "--keep",
        "--delete-after",
        "--size-mismatch",
      ]),
    );
    const readme = await readFile(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
    const section = readme.slice(
      readme.indexOf("\n## fetch"),
      readme.indexOf("\n### Crash safety"),
    );
    // --quiet and --verbose are global, and the fetch section says what they do for fetch.
    for (const flag of [...own, "--quiet", "--verbose"]) {
      expect(help.out, flag).toMatch(new RegExp(`^ {2}(-\\w, )?${flag}\\b`, "m"));
      expect(section, flag).toMatch(new RegExp(`^\\| \`(-\\w\`, \`)?${flag}\\b`, "m"));
    }
  });
});
