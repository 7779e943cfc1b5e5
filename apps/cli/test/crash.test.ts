import { readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Fixture,
  makeMessages,
  parseMbox,
  random,
  readMaildir,
  runCli,
  serverIdle,
  startCli,
  startFixture,
  USER,
} from "./helpers";

/**
 * `fetch` killed with SIGKILL at many points must never lose a message and never store one twice:
 * after the kills, one run to completion leaves every message exactly once, byte for byte, and a
 * further run fetches nothing. Kill points are (a) after k NDJSON events of a run, for many k,
 * (b) after a pseudo-random delay, and (c) at each failpoint of the store/record/delete sequence
 * (POP3_CLI_FAILPOINT), where the CLI stops and waits to be killed.
 */

const COUNT = 30;
const LARGE = [3, 11, 12, 20, 27];

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

interface KillPoint {
  readonly afterEvents?: number;
  readonly afterMs?: number;
  readonly failpoint?: string;
  /** Not killed: a complete run with --limit (so --delete commits some deletions midway). */
  readonly limit?: number;
}

/**
 * A sequence of kill points: after k events (small k, so each run makes a little progress), at
 * failpoints (`name:n`, the n-th message of that run), after pseudo-random delays, and complete
 * runs with --limit in between. `before-quit` comes last: that run fetches everything left.
 */
function killPoints(
  spec: readonly (number | string | { limit: number } | "delay")[],
  seed: number,
): KillPoint[] {
  const rand = random(seed);
  return spec.map((item) => {
    if (typeof item === "number") return { afterEvents: item };
    if (item === "delay") return { afterMs: 40 + Math.floor(rand() * 300) };
    if (typeof item === "string") return { failpoint: item.includes(":") ? item : `${item}:1` };
    return { limit: item.limit };
  });
}

/** One run of fetch, killed at `point`. Resolves when the child is gone (reaped). */
async function killedRun(
  f: Fixture,
  args: readonly string[],
  point: KillPoint,
): Promise<{ killed: boolean; code: number | null; events: number }> {
  const env = {
    ...f.env,
    ...(point.failpoint === undefined ? {} : { POP3_CLI_FAILPOINT: point.failpoint }),
  };
  const fullArgs = point.limit === undefined ? args : [...args, "--limit", String(point.limit)];
  let timer: NodeJS.Timeout | undefined;
  const run = startCli(f.home, [...fullArgs, "--json"], {
    env,
    onEvent: (_event, r) => {
      if (point.afterEvents !== undefined && r.events.length >= point.afterEvents)
        r.child.kill("SIGKILL");
    },
    onStderrLine: (line, r) => {
      if (line.startsWith("failpoint ")) r.child.kill("SIGKILL");
    },
  });
  if (point.afterEvents === 0) run.child.kill("SIGKILL");
  if (point.afterMs !== undefined)
    timer = setTimeout(() => run.child.kill("SIGKILL"), point.afterMs);
  const result = await run.exited;
  clearTimeout(timer);
  await serverIdle(f.server);
  if (result.signal === null && result.code !== 0) {
    throw new Error(`fetch failed without being killed (${result.code}): ${result.err}`);
  }
  return { killed: result.signal === "SIGKILL", code: result.code, events: run.events.length };
}

async function seed(f: Fixture): Promise<Map<string, Buffer>> {
  const byUid = new Map<string, Buffer>();
  for (const message of makeMessages(COUNT, { large: LARGE, seed: 7 })) {
    const { uid } = f.server.addMessage(USER, message);
    byUid.set(uid, message);
  }
  // What the server serves is what it stores (CRLF messages): check the fixture itself.
  for (const m of f.server.messages(USER)) {
    expect(Buffer.from(m.bytes).equals(byUid.get(m.uid) as Buffer)).toBe(true);
  }
  return byUid;
}

/** What a mail reader does: move new/ mail to cur/ and flag it seen. */
async function readMail(dir: string): Promise<void> {
  for (const name of await readdir(join(dir, "new")).catch(() => [] as string[])) {
    await rename(join(dir, "new", name), join(dir, "cur", `${name}:2,S`));
  }
}

/** Every message exactly once, byte for byte; nothing else. */
function expectExactlyOnce(stored: readonly Buffer[], expected: Map<string, Buffer>): void {
  expect(stored).toHaveLength(expected.size);
  const want = new Map<string, number>();
  for (const bytes of expected.values())
    want.set(bytes.toString("latin1"), (want.get(bytes.toString("latin1")) ?? 0) + 1);
  for (const bytes of stored) {
    const key = bytes.toString("latin1");
    const left = want.get(key);
    expect(left, "a stored message that the server does not have, or a duplicate").toBeGreaterThan(
      0,
    );
    want.set(key, (left as number) - 1);
  }
}

/** The Maildir's messages; `final`: after a complete run, so tmp/ must hold nothing of ours. */
async function maildirMessages(dir: string, final = false): Promise<Buffer[]> {
  const { files, tmp } = await readMaildir(dir);
  // Only fetch writes into this Maildir: every tmp/ file is an interrupted download of ours.
  if (final) expect(tmp).toEqual([]);
  return [...files.values()];
}

// Each test starts the CLI about 20 times (13–35 s seen on a loaded machine, and CI may be slower
// still): the timeout is only there to catch a hang.
describe("fetch survives SIGKILL at any point", { timeout: 300_000 }, () => {
  it("into a Maildir: every message exactly once, and a last run fetches nothing", async () => {
    fixture = await startFixture();
    const f = fixture;
    const expected = await seed(f);
    const dir = join(f.home, "Maildir");
    const args = ["fetch", f.url, ...f.trust, "--maildir", dir];
    const points = killPoints(
      [
        0,
        1,
        "maildir-tmp-written",
        2,
        "maildir-renamed",
        "delay",
        "maildir-intent",
        3,
        "recorded:2",
        5,
        "maildir-renamed:2",
        "delay",
        2,
        "maildir-tmp-written:2",
        8,
        4,
        "delay",
        3,
        "before-quit",
      ],
      11,
    );
    let kills = 0;
    for (const [i, point] of points.entries()) {
      const { killed, events } = await killedRun(f, args, point);
      if (process.env["DEBUG_CRASH"]) console.log(point, killed, events);
      if (killed) kills += 1;
      // Now and then a mail reader moves what arrived to cur/: still never stored twice.
      if (i % 2 === 1) await readMail(dir);
      // Whatever is there is intact and not doubled.
      const partial = await maildirMessages(dir);
      const all = [...expected.values()].map((b) => b.toString("latin1"));
      for (const bytes of partial) expect(all).toContain(bytes.toString("latin1"));
      expect(new Set(partial.map((b) => b.toString("latin1"))).size).toBe(partial.length);
    }
    expect(kills).toBeGreaterThanOrEqual(10);

    const final = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(final.code, final.err).toBe(0);
    expectExactlyOnce(await maildirMessages(dir, true), expected);
    // Nothing was deleted on the server.
    expect(f.server.messages(USER)).toHaveLength(COUNT);
    expect(f.server.deletions).toEqual([]);

    const again = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(again.code, again.err).toBe(0);
    const done = JSON.parse(again.out.trim().split("\n").at(-1) as string);
    expect(done).toMatchObject({ event: "done", stored: 0, failed: 0 });
    expectExactlyOnce(await maildirMessages(dir, true), expected);
  });

  it("with --delete: the server never loses a message that is not stored, and ends empty", async () => {
    fixture = await startFixture();
    const f = fixture;
    const expected = await seed(f);
    const dir = join(f.home, "Maildir");
    const args = ["fetch", f.url, ...f.trust, "--maildir", dir, "--delete"];
    const points = killPoints(
      [
        0,
        "marked-deleted",
        1,
        "maildir-renamed",
        2,
        "delay",
        "recorded:2",
        3,
        { limit: 2 },
        "maildir-intent:2",
        "maildir-tmp-written:2",
        5,
        "marked-deleted:2",
        "delay",
        2,
        { limit: 3 },
        8,
        4,
        "delay",
        "before-quit",
      ],
      23,
    );
    let kills = 0;
    for (const point of points) {
      const { killed, events } = await killedRun(f, args, point);
      if (process.env["DEBUG_CRASH"]) console.log(point, killed, events);
      if (killed) kills += 1;
      // Every message is either still on the server or stored here (or both), intact.
      const stored = (await maildirMessages(dir)).map((b) => b.toString("latin1"));
      const onServer = f.server.messages(USER).map((m) => Buffer.from(m.bytes).toString("latin1"));
      for (const bytes of expected.values()) {
        const key = bytes.toString("latin1");
        expect(stored.includes(key) || onServer.includes(key), "a message was lost").toBe(true);
      }
      for (const deletion of f.server.deletions) {
        for (const uid of deletion.uids) {
          expect(stored, `deleted ${uid} before storing it`).toContain(
            (expected.get(uid) as Buffer).toString("latin1"),
          );
        }
      }
      expect(new Set(stored).size).toBe(stored.length);
    }
    expect(kills).toBeGreaterThanOrEqual(10);

    const final = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(final.code, final.err).toBe(0);
    expectExactlyOnce(await maildirMessages(dir, true), expected);
    expect(f.server.messages(USER)).toEqual([]);
    const deleted = f.server.deletions.flatMap((d) => d.uids);
    expect(new Set(deleted)).toEqual(new Set(expected.keys()));

    const again = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out.trim().split("\n").at(-1) as string)).toMatchObject({ stored: 0 });
  });

  it("into an mbox: partial appends are cut back, every message exactly once", async () => {
    fixture = await startFixture();
    const f = fixture;
    const expected = await seed(f);
    const mbox = join(f.home, "inbox.mbox");
    const args = ["fetch", f.url, ...f.trust, "--mbox", mbox];
    const points = killPoints(
      [
        0,
        1,
        "mbox-partial",
        2,
        "mbox-appended",
        "delay",
        3,
        "recorded:2",
        5,
        "mbox-partial:2",
        "delay",
        2,
        "mbox-appended:2",
        8,
        4,
        "delay",
        3,
        "mbox-partial:3",
        "before-quit",
      ],
      37,
    );
    let kills = 0;
    for (const point of points) {
      const { killed, events } = await killedRun(f, args, point);
      if (process.env["DEBUG_CRASH"]) console.log(point, killed, events);
      if (killed) kills += 1;
    }
    expect(kills).toBeGreaterThanOrEqual(10);

    const final = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(final.code, final.err).toBe(0);
    const messages = parseMbox(await readFile(mbox));
    expectExactlyOnce(
      messages.map((m) => m.bytes),
      expected,
    );
    // The marker names the right UID for each message.
    for (const m of messages) expect(m.bytes.equals(expected.get(m.uid) as Buffer)).toBe(true);

    const again = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out.trim().split("\n").at(-1) as string)).toMatchObject({ stored: 0 });
    expect(parseMbox(await readFile(mbox))).toHaveLength(COUNT);
  });

  it("into an mbox with --delete", async () => {
    fixture = await startFixture();
    const f = fixture;
    const expected = await seed(f);
    const mbox = join(f.home, "inbox.mbox");
    const args = ["fetch", f.url, ...f.trust, "--mbox", mbox, "--delete"];
    const points = killPoints(
      [
        0,
        "mbox-partial",
        1,
        "mbox-appended",
        2,
        "delay",
        "marked-deleted",
        3,
        { limit: 2 },
        "mbox-partial:2",
        5,
        "marked-deleted:2",
        "delay",
        2,
        { limit: 3 },
        8,
        "mbox-appended:2",
        "delay",
        "before-quit",
      ],
      41,
    );
    let kills = 0;
    for (const point of points) {
      const { killed, events } = await killedRun(f, args, point);
      if (process.env["DEBUG_CRASH"]) console.log(point, killed, events);
      if (killed) kills += 1;
      const stored = parseMbox(await readFile(mbox).catch(() => Buffer.alloc(0)), {
        lenient: true,
      });
      const storedUids = new Set(stored.map((m) => m.uid));
      for (const uid of f.server.deletions.flatMap((d) => d.uids)) {
        expect(storedUids.has(uid), `deleted ${uid} before storing it`).toBe(true);
      }
    }
    expect(kills).toBeGreaterThanOrEqual(10);
    const final = await runCli(f.home, [...args, "--json"], { env: f.env });
    expect(final.code, final.err).toBe(0);
    const messages = parseMbox(await readFile(mbox));
    expectExactlyOnce(
      messages.map((m) => m.bytes),
      expected,
    );
    expect(f.server.messages(USER)).toEqual([]);
  });
});
