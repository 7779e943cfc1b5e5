import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireLock } from "../src/fetch/lock";
import { Maildir } from "../src/fetch/maildir";
import { baseOf, MaildirNamer, sanitiseHost, sizeOf } from "../src/fetch/maildir-name";
import { CrlfToLf, mdaEnvironment } from "../src/fetch/mda";
import { makePlan, shouldDelete } from "../src/fetch/plan";
import { FetchState } from "../src/fetch/state";
import { random, removeDir, tempDir } from "./helpers";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("pop3-fetch-units-");
});
afterEach(async () => {
  await removeDir(dir);
});

describe("the fetch lock", () => {
  it("never exists without its pid, and is held by one taker at a time", async () => {
    const path = join(dir, ".pop3-fetch.lock");
    let stop = false;
    const seen = { reads: 0, withoutPid: 0 };
    const watcher = (async () => {
      while (!stop) {
        const text = await readFile(path, "utf8").catch(() => undefined);
        if (text === undefined) continue;
        seen.reads += 1;
        if (!/^\d+\n$/.test(text)) seen.withoutPid += 1;
      }
    })();
    let holders = 0;
    let most = 0;
    let taken = 0;
    const contender = async (): Promise<void> => {
      for (let i = 0; i < 150; i++) {
        const lock = await acquireLock(path, "test").catch(() => undefined);
        if (lock === undefined) continue;
        taken += 1;
        holders += 1;
        most = Math.max(most, holders);
        await new Promise((resolve) => setImmediate(resolve));
        holders -= 1;
        await lock.release();
      }
    };
    await Promise.all([contender(), contender(), contender()]);
    stop = true;
    await watcher;
    expect(taken).toBeGreaterThan(100);
    expect(most).toBe(1);
    expect(seen.reads).toBeGreaterThan(0);
    expect(seen.withoutPid).toBe(0);
    // No temporary or set-aside files are left beside it.
    expect(await readdir(dir)).toEqual([]);
  });

  it("a lock held in this process is refused; a dead process's lock, or one of an earlier process with our pid, is taken over", async () => {
    const path = join(dir, "inbox.lock");
    const lock = await acquireLock(path, "inbox");
    await expect(acquireLock(path, "inbox")).rejects.toThrow(
      /in use by an earlier fetch in this process/,
    );
    await lock.release();
    await writeFile(path, "2147483646\n");
    (await acquireLock(path, "inbox")).release();
    await writeFile(path, `${process.pid}\n`);
    const again = await acquireLock(path, "inbox");
    expect(await readFile(path, "utf8")).toBe(`${process.pid}\n`);
    await again.release();
    // Another program's fresh dotlock without a pid: busy.
    await writeFile(path, "");
    await expect(acquireLock(path, "inbox")).rejects.toThrow(/in use: .* exists and is fresh/);
  });
});

describe("Maildir names", () => {
  it("time.M<usec>P<pid>Q<n>.host, sorting by arrival; the host sanitised", () => {
    expect(sanitiseHost("mail/host:2,x")).toBe("mail\\057host\\0722\\054x");
    const namer = new MaildirNamer("box:1");
    const times = [
      1_700_000_000_000.5, 1_700_000_000_000.75, 1_700_000_000_009.001, 1_700_000_001_000,
    ];
    const names = times.map((t) => namer.next(t));
    expect(names[0]).toBe(`1700000000.M000500P${process.pid}Q1.box\\0721`);
    expect(names[2]).toMatch(new RegExp(`^1700000000\\.M009001P${process.pid}Q3\\.`));
    expect([...names].sort()).toEqual(names);
  });

  it("the base name ignores Maildir++ fields and flags", () => {
    expect(baseOf("1.M1P2Q3.h,S=120:2,S")).toBe("1.M1P2Q3.h");
    expect(baseOf("1.M1P2Q3.h,S=120,W=124!2,RS")).toBe("1.M1P2Q3.h");
    expect(baseOf("pop3.abcdef:2,")).toBe("pop3.abcdef");
    expect(sizeOf("1.M1P2Q3.h,S=120:2,S")).toBe(120);
    expect(sizeOf("1.M1P2Q3.h")).toBeUndefined();
  });
});

describe("Maildir intents: a crash between link(2) and the record", () => {
  it("an intent whose file is in new/ or cur/ becomes a record; one without a file is dropped", async () => {
    const root = join(dir, "Maildir");
    const statePath = join(root, ".pop3-fetch-state.json");
    const maildir = await Maildir.open(root);
    const state = await FetchState.load(statePath, "maildir");
    await state.begin();
    const stored = await maildir.store(
      (async function* () {
        yield Buffer.from("Subject: a\r\n\r\nbody\r\n");
      })(),
      () => {},
      (file) => state.intend({ account: "a@h", uid: "U1", file }),
    );
    // The second never reached new/ (the crash came after the intent).
    await state.intend({ account: "a@h", uid: "U2", file: "1.M1P1Q9.h,S=10" });
    await state.close();
    // A mail reader moved the first to cur/.
    await mkdir(join(root, "cur"), { recursive: true });
    const { rename } = await import("node:fs/promises");
    await rename(join(root, stored.file), join(root, "cur", `${stored.name}:2,S`));

    const reopened = await Maildir.open(root);
    const again = await FetchState.load(statePath, "maildir");
    expect(again.has("a@h", "U1")).toBe(false);
    again.settleIntents(
      (file) => reopened.has(file),
      (file) => sizeOf(file) ?? 0,
    );
    await again.begin();
    await again.close();
    expect(again.get("a@h", "U1")).toMatchObject({ size: stored.size, file: stored.name });
    expect(again.has("a@h", "U2")).toBe(false);
    // Compacted: records only.
    const lines = (await readFile(statePath, "utf8")).trim().split("\n");
    expect(lines.map((l) => Object.keys(JSON.parse(l)).includes("intent"))).toEqual([false, false]);
  });
});

describe("MDA input", () => {
  it("CRLF → LF only, however the bytes are cut into chunks", () => {
    const input = Buffer.from("a\r\nb\rc\r\r\n\n\r\nend\r", "latin1");
    const want = "a\nb\rc\r\n\n\nend\r";
    const rand = random(3);
    for (let round = 0; round < 200; round++) {
      const converter = new CrlfToLf();
      const out: Uint8Array[] = [];
      for (let i = 0; i < input.length; ) {
        const size = 1 + Math.floor(rand() * 4);
        out.push(...converter.push(input.subarray(i, i + size)));
        i += size;
      }
      out.push(...converter.end());
      expect(Buffer.concat(out).toString("latin1")).toBe(want);
    }
  });

  it("the MDA's environment keeps nothing but harmless variables", () => {
    const env = mdaEnvironment(
      {
        PATH: "/bin",
        HOME: "/home/a",
        LC_ALL: "C",
        POP3_PASSWORD: "secret",
        POP3_URL: "pop3://a:secret@h",
        AWS_SECRET_ACCESS_KEY: "k",
        GITHUB_TOKEN: "t",
      },
      { account: "a@h", uid: "U", size: 3 },
    );
    expect(env).toEqual({
      PATH: "/bin",
      HOME: "/home/a",
      LC_ALL: "C",
      POP3_FETCH_ACCOUNT: "a@h",
      POP3_FETCH_UIDL: "U",
      POP3_FETCH_SIZE: "3",
    });
  });
});

describe("the plan", () => {
  const listing = [1, 2, 3, 4].map((msg) => ({ msg, size: msg * 100 }));
  const uids = [4, 3, 2, 1].map((msg) => ({ msg, uid: `u${msg}` }));
  const record = (uid: string, at = "2020-01-01T00:00:00.000Z") => ({
    account: "a",
    uid,
    size: 1,
    at,
  });

  it("stored (state or destination), too large, over the limit, or to fetch — in message order", () => {
    const plan = makePlan(
      listing,
      uids,
      (uid) => ({ record: uid === "u1" ? record(uid) : undefined, here: uid === "u2" }),
      { maxSize: 350, limit: 1 },
    );
    expect(plan.map((p) => [p.msg, p.action, p.adopt ?? null])).toEqual([
      [1, "stored", false],
      [2, "stored", true],
      [3, "fetch", null],
      [4, "too-large", null],
    ]);
    expect(plan[0]?.storedAt).toBe("2020-01-01T00:00:00.000Z");
    const all = makePlan(listing, uids, (uid) => ({ record: record(uid), here: false }), {
      all: true,
    });
    expect(all.every((p) => p.action === "fetch")).toBe(true);
  });

  it("deletes by policy: keep never, delete always, after N days by the first stored date", () => {
    const now = Date.parse("2024-05-10T12:00:00Z");
    expect(shouldDelete({ kind: "keep" }, "2000-01-01T00:00:00Z", now)).toBe(false);
    expect(shouldDelete({ kind: "delete" }, undefined, now)).toBe(true);
    const week = { kind: "after", days: 7 } as const;
    expect(shouldDelete(week, "2024-05-03T12:00:00Z", now)).toBe(true);
    expect(shouldDelete(week, "2024-05-03T12:00:01Z", now)).toBe(false);
    expect(shouldDelete(week, undefined, now)).toBe(false);
    expect(shouldDelete(week, "not a date", now)).toBe(false);
    expect(shouldDelete({ kind: "after", days: 0 }, undefined, now)).toBe(true);
  });
});
