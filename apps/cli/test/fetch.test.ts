import { spawn } from "node:child_process";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { sanitiseHost } from "../src/fetch/maildir-name";
import {
  CLI,
  type Fixture,
  makeMessages,
  PASSWORD,
  parseMbox,
  readMaildir,
  removeDir,
  runCli,
  serverIdle,
  startCli,
  startFixture,
  tempDir,
  USER,
} from "./helpers";

let f: Fixture;
const messages = makeMessages(6, { large: [4], seed: 5 });
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
  uids = messages.map((m) => f.server.addMessage(USER, m).uid);
  dest = await tempDir("pop3-fetch-");
});
afterEach(async () => {
  await removeDir(dest);
});

const fetch = (...args: string[]) =>
  runCli(f.home, ["fetch", f.url, ...f.trust, ...args], { env: f.env });
/** The fault proxy sees commands only in cleartext (not inside TLS): tests with faults use this. */
const fetchPlain = (...args: string[]) => fetch("--tls", "none", ...args);
const events = (out: string) =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const sorted = (list: readonly Buffer[]) => list.map((b) => b.toString("latin1")).sort();

describe("fetch into a Maildir", () => {
  it("stores every message byte for byte in new/, keeps mail on the server, fetches nothing the second time", async () => {
    const dir = join(dest, "Mail");
    const first = await fetch("--maildir", dir);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/^stored 6 messages \(.+\) in .*Mail\n$/);
    const { files, tmp } = await readMaildir(dir);
    expect(tmp).toEqual([]);
    // Maildir names: time.M<usec>P<pid>Q<n>.host,S=<size>, sorting by arrival (message order).
    const host = sanitiseHost(hostname());
    const names = [...files.keys()].sort();
    for (const name of names) {
      const match = /^new\/(\d{10})\.M(\d{6})P(\d+)Q(\d+)\.([^/:,]+),S=(\d+)$/.exec(name);
      expect(match, name).not.toBeNull();
      expect(match?.[5]).toBe(host);
      expect(Number(match?.[6])).toBe(files.get(name)?.length);
    }
    expect(names.map((n) => files.get(n))).toEqual(messages);
    expect(f.server.messages(USER)).toHaveLength(6);
    expect(f.server.deletions).toEqual([]);

    const second = await fetch("--maildir", dir, "--json");
    expect(second.code, second.err).toBe(0);
    expect(events(second.out)).toEqual([
      expect.objectContaining({ event: "start", messages: 0, onServer: 6, alreadyStored: 6 }),
      expect.objectContaining({ event: "done", stored: 0, failed: 0, exitCode: 0 }),
    ]);

    // New mail arrives: only that is fetched.
    const extra = Buffer.from("Subject: late\r\n\r\nhello\r\n");
    f.server.addMessage(USER, extra);
    const third = await fetch("--maildir", dir, "--json");
    expect(events(third.out).filter((e) => e["event"] === "stored")).toHaveLength(1);
    expect(sorted([...(await readMaildir(dir)).files.values()])).toEqual(
      sorted([...messages, extra]),
    );
  });

  it("NDJSON events: start, progress (with bytes), stored, done", async () => {
    const r = await fetch("--maildir", join(dest, "M"), "--json");
    expect(r.code, r.err).toBe(0);
    const list = events(r.out);
    const total = messages.reduce((s, m) => s + m.length, 0);
    expect(list[0]).toEqual({
      event: "start",
      account: `${USER}@127.0.0.1`,
      destination: join(dest, "M"),
      messages: 6,
      octets: total,
      onServer: 6,
      alreadyStored: 0,
      skipped: 0,
    });
    const stored = list.filter((e) => e["event"] === "stored");
    expect(stored.map((e) => e["uid"])).toEqual(uids);
    expect(stored.map((e) => e["size"])).toEqual(messages.map((m) => m.length));
    const large = list.filter((e) => e["event"] === "progress" && e["msg"] === 5);
    expect(large.length).toBeGreaterThan(1);
    expect(large.at(-1)).toMatchObject({
      received: messages[4]?.length,
      size: messages[4]?.length,
    });
    expect(list.at(-1)).toEqual({
      event: "done",
      stored: 6,
      octets: total,
      failed: 0,
      skipped: 0,
      deleted: 0,
      committed: null,
      interrupted: false,
      forced: false,
      exitCode: 0,
    });
  });

  it("--max-size and --limit skip messages; they come later", async () => {
    const dir = join(dest, "M");
    const small = await fetch("--maildir", dir, "--max-size", "100k", "--json");
    expect(small.code, small.err).toBe(0);
    const list = events(small.out);
    expect(list.filter((e) => e["event"] === "skipped")).toEqual([
      { event: "skipped", msg: 5, uid: uids[4], size: messages[4]?.length, reason: "too-large" },
    ]);
    expect((await readMaildir(dir)).files.size).toBe(5);
    const limited = await fetch("--maildir", join(dest, "L"), "--limit", "2", "--json");
    expect(
      events(limited.out)
        .filter((e) => e["event"] === "stored")
        .map((e) => e["msg"]),
    ).toEqual([1, 2]);
    const rest = await fetch("--maildir", dir);
    expect(rest.out).toMatch(/^stored 1 message /);
  });

  it("--all ignores the state, but a Maildir never gets a message twice", async () => {
    const dir = join(dest, "M");
    await fetch("--maildir", dir);
    await rm(join(dir, "new", (await readMaildirNames(dir))[0] as string));
    // The state remembers the deleted one: not fetched again...
    expect((await fetch("--maildir", dir)).out).toMatch(/^stored 0 messages/);
    // ...unless --all: then it comes back, and the others are not doubled.
    const all = await fetch("--maildir", dir, "--all");
    expect(all.out).toMatch(/^stored 1 message /);
    expect(sorted([...(await readMaildir(dir)).files.values()])).toEqual(sorted(messages));
  });

  it("--delete removes each message only after it is stored, and QUIT commits", async () => {
    const dir = join(dest, "M");
    const r = await fetch("--maildir", dir, "--delete", "--json");
    expect(r.code, r.err).toBe(0);
    const list = events(r.out);
    // Each DELE follows that message's "stored" event.
    for (const uid of uids) {
      const storedAt = list.findIndex((e) => e["event"] === "stored" && e["uid"] === uid);
      const markedAt = list.findIndex((e) => e["event"] === "marked-deleted" && e["uid"] === uid);
      expect(storedAt).toBeGreaterThan(0);
      expect(markedAt).toBeGreaterThan(storedAt);
    }
    expect(list.at(-1)).toMatchObject({ deleted: 6, committed: true });
    expect(f.server.messages(USER)).toEqual([]);
    expect(f.server.deletions.flatMap((d) => d.uids)).toEqual(uids);
  });

  it("a failed UPDATE: exit 6, mail stays on the server, deleted on the next run", async () => {
    const dir = join(dest, "M");
    f.server.faults.failCommits(1);
    const r = await fetch("--maildir", dir, "--delete");
    expect(r.code).toBe(6);
    expect(r.err).toMatch(/did not remove the 6 message\(s\)/);
    expect(f.server.messages(USER)).toHaveLength(6);
    const again = await fetch("--maildir", dir, "--delete", "--json");
    expect(again.code, again.err).toBe(0);
    expect(events(again.out).at(-1)).toMatchObject({ stored: 0, deleted: 6, committed: true });
    expect(f.server.messages(USER)).toEqual([]);
    expect(sorted([...(await readMaildir(dir)).files.values()])).toEqual(sorted(messages));
  });

  it("partial: a RETR answered -ERR → exit 6, the rest stored; the next run completes", async () => {
    const dir = join(dest, "M");
    f.server.faults.add({
      on: "RETR",
      times: 1,
      fault: { type: "error", code: "SYS/TEMP", text: "try later" },
    });
    const r = await fetchPlain("--maildir", dir, "--json");
    expect(r.code).toBe(6);
    const list = events(r.out);
    expect(list.filter((e) => e["event"] === "failed")).toEqual([
      expect.objectContaining({ msg: 1, uid: uids[0], error: expect.stringMatching(/SYS\/TEMP/) }),
    ]);
    expect(list.at(-1)).toMatchObject({ stored: 5, failed: 1, exitCode: 6 });
    f.server.faults.clear();
    const again = await fetchPlain("--maildir", dir);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/^stored 1 message /);
    expect(sorted([...(await readMaildir(dir)).files.values()])).toEqual(sorted(messages));
  });

  it("a wrong size (truncated download) is not stored; the connection dropping mid-message stops with 6", async () => {
    const dir = join(dest, "M");
    // LIST announces 3 octets less than RETR delivers: every download fails the size check.
    f.server.faults.add({ on: "LIST", times: 1, fault: { type: "wrong-size", delta: -3 } });
    const truncated = await fetchPlain("--maildir", dir, "--json");
    expect(truncated.code).toBe(6);
    const failed = events(truncated.out).filter((e) => e["event"] === "failed");
    expect(failed).toHaveLength(6);
    for (const e of failed) expect(e).toMatchObject({ code: "POP3_TRUNCATED" });
    expect((await readMaildir(dir)).files.size).toBe(0);
    f.server.faults.clear();
    await serverIdle(f.server);

    const dir2 = join(dest, "M2");
    f.server.faults.add({ on: "RETR", times: 1, fault: { type: "drop", afterBytes: 200_000 } });
    const dropped = await fetchPlain("--maildir", dir2, "--max-size", "10M", "--all", "--json");
    expect(dropped.code).toBe(6);
    f.server.faults.clear();
    await serverIdle(f.server);
    for (const d of [dir, dir2]) {
      const again = await fetchPlain("--maildir", d);
      expect(again.code, again.err).toBe(0);
      const { files, tmp } = await readMaildir(d);
      expect(tmp).toEqual([]);
      expect(sorted([...files.values()])).toEqual(sorted(messages));
    }
  });

  it("a server without UIDL cannot be fetched from (exit 4)", async () => {
    f.server.faults.add({ on: "UIDL", fault: { type: "error", text: "no UIDL here" } });
    const r = await fetchPlain("--maildir", join(dest, "M"));
    f.server.faults.clear();
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/does not support UIDL/);
  });

  it("a lock held by a live process refuses a second fetch (7); a stale one is taken over", async () => {
    const dir = join(dest, "M");
    await fetch("--maildir", dir, "--limit", "1");
    await writeFile(join(dir, ".pop3-fetch.lock"), `${process.pid}\n`);
    const busy = await fetch("--maildir", dir);
    expect(busy.code).toBe(7);
    expect(busy.err).toMatch(/in use by another pop3 fetch \(pid \d+\)/);
    await writeFile(join(dir, ".pop3-fetch.lock"), "2147483646\n");
    const stale = await fetch("--maildir", dir);
    expect(stale.code, stale.err).toBe(0);
    await expect(stat(join(dir, ".pop3-fetch.lock"))).rejects.toThrow();
  });

  it("Ctrl-C finishes the current message, QUITs, and exits 130; the next run completes", async () => {
    const dir = join(dest, "M");
    const run = startCli(
      f.home,
      ["fetch", f.url, ...f.trust, "--maildir", dir, "--delete", "--json"],
      {
        env: f.env,
        onEvent: (event, r) => {
          if (event["event"] === "stored" && event["msg"] === 2) r.child.kill("SIGINT");
        },
      },
    );
    const result = await run.exited;
    expect(result.code, result.err).toBe(130);
    const done = run.events.at(-1);
    expect(done).toMatchObject({
      event: "done",
      interrupted: true,
      committed: true,
      exitCode: 130,
    });
    const stored = run.events.filter((e) => e["event"] === "stored").length;
    expect(stored).toBeGreaterThanOrEqual(2);
    expect(stored).toBeLessThan(6);
    // What was stored and marked was deleted by the QUIT.
    expect(f.server.messages(USER)).toHaveLength(6 - (done?.["deleted"] as number));
    const again = await fetch("--maildir", dir, "--delete");
    expect(again.code, again.err).toBe(0);
    expect(f.server.messages(USER)).toEqual([]);
    expect(sorted([...(await readMaildir(dir)).files.values()])).toEqual(sorted(messages));
  });

  it("usage: exactly one destination", async () => {
    expect((await fetch()).code).toBe(1);
    expect((await fetch("--maildir", "a", "--mbox", "b")).code).toBe(1);
  });

  it("shows a progress bar with messages, bytes and ETA on a terminal", async () => {
    const dir = join(dest, "M");
    const text = await new Promise<string>((resolve, reject) => {
      const command = [process.execPath, CLI, "fetch", f.url, "--ca", f.caFile, "--maildir", dir]
        .map((a) => `'${a}'`)
        .join(" ");
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        env: {
          PATH: process.env["PATH"] ?? "",
          HOME: f.home,
          NETRC: "/nonexistent",
          TERM: "xterm",
          POP3_PASSWORD: PASSWORD,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.on("error", reject);
      child.on("close", () => resolve(out));
    });
    expect(text).toMatch(/fetch \[.*\] 100% \| 6\/6 messages \| .* \| ETA/);
    expect(text).toMatch(/stored 6 messages/);
  });
});

async function readMaildirNames(dir: string): Promise<string[]> {
  return [...(await readMaildir(dir)).files.keys()].map((k) => k.replace(/^new\//, ""));
}

describe("fetch into an mbox", () => {
  it("mboxrd: From_ lines, quoted >From, LF line ends, a marker header; round-trips byte for byte", async () => {
    const mbox = join(dest, "inbox");
    const r = await fetch("--mbox", mbox);
    expect(r.code, r.err).toBe(0);
    const bytes = await readFile(mbox);
    const text = bytes.toString("latin1");
    expect(text.startsWith("From sender@example.org ")).toBe(true);
    expect(text).toMatch(/^From MAILER-DAEMON \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/m);
    expect(text).not.toContain("\r\n");
    expect(text).toContain("\n>From the start of this line");
    expect(text).toContain("\n>>From an already quoted line\n>>>From twice\n");
    expect(text).toContain("\nFromage is not");
    expect(text).toContain(`\nX-POP3-UIDL: ${uids[0]} (${USER}@127.0.0.1)\n`);
    const parsed = parseMbox(bytes);
    expect(parsed.map((m) => m.uid)).toEqual(uids);
    for (const [i, m] of parsed.entries())
      expect(m.bytes.equals(messages[i] as Buffer), `message ${i + 1}`).toBe(true);

    const again = await fetch("--mbox", mbox);
    expect(again.out).toMatch(/^stored 0 messages/);
    expect((await readFile(mbox)).equals(bytes)).toBe(true);
  });

  it("an interrupted download is cut back out of the mbox at once", async () => {
    const mbox = join(dest, "inbox");
    f.server.faults.add({ on: "RETR", times: 1, fault: { type: "drop", afterBytes: 1000 } });
    const r = await fetchPlain("--mbox", mbox);
    expect(r.code).toBe(6);
    f.server.faults.clear();
    await serverIdle(f.server);
    expect((await readFile(mbox)).length).toBe(0);
    const again = await fetchPlain("--mbox", mbox);
    expect(again.code, again.err).toBe(0);
    expect(parseMbox(await readFile(mbox)).map((m) => m.uid)).toEqual(uids);
  });

  it("without its state file, the X-POP3-UIDL markers still prevent duplicates", async () => {
    const mbox = join(dest, "inbox");
    await fetch("--mbox", mbox, "--limit", "3");
    await rm(`${mbox}.pop3-fetch-state.json`);
    const r = await fetch("--mbox", mbox);
    expect(r.out).toMatch(/^stored 3 messages/);
    expect(parseMbox(await readFile(mbox)).map((m) => m.uid)).toEqual(uids);
  });

  it("mail appended by another program after ours is kept", async () => {
    const mbox = join(dest, "inbox");
    await fetch("--mbox", mbox, "--limit", "1");
    const foreign = "From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: local\n\nhi\n\n";
    await writeFile(mbox, foreign, { flag: "a" });
    const r = await fetch("--mbox", mbox);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/added by another program/);
    const text = (await readFile(mbox)).toString("latin1");
    expect(text).toContain(foreign);
    expect(text.match(/^X-POP3-UIDL: /gm)).toHaveLength(6);
  });
});
