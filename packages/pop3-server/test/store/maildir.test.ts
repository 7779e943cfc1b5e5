import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { md5, rfcOctetSize, toHex } from "pop3-core";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { BackendError, InvalidUserError, MaildropInUseError } from "../../src/errors";
import { syncIo } from "../../src/store/maildir-io";
import { inspect, takeOver } from "../../src/store/maildir-lock";
import { SIZE_CACHE_FILE } from "../../src/store/maildir-size-cache";
import { MAILDIR_LOCK_FILE, MaildirStore } from "../../src/store/maildir-store";
import type { Maildrop } from "../../src/store/types";

const roots: string[] = [];

afterAll(async () => {
  for (const root of roots) await fsp.rm(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function tempRoot(): Promise<string> {
  const root = await fsp.mkdtemp(join(tmpdir(), "pop3-maildir-test-"));
  roots.push(root);
  return root;
}

async function makeStore(options: { lockStaleMs?: number } = {}): Promise<MaildirStore> {
  return new MaildirStore({ root: await tempRoot(), ...options });
}

let sequence = 0;

/** A unique Maildir name in delivery order, as an MDA would make it. */
function uniqueName(): string {
  sequence++;
  return `${1_700_000_000 + sequence}.M${sequence}P${process.pid}Q${sequence}.testhost`;
}

/** Delivers like an MDA: write into tmp/, then rename into new/. Returns the file name. */
async function deliver(
  store: MaildirStore,
  user: string,
  bytes: Uint8Array | string,
  name = uniqueName(),
  sub: "new" | "cur" = "new",
): Promise<string> {
  const dir = store.maildirPath(user);
  for (const d of ["cur", "new", "tmp"]) await fsp.mkdir(join(dir, d), { recursive: true });
  const tmp = join(dir, "tmp", name.replace(/:.*/, ""));
  await fsp.writeFile(tmp, bytes);
  await fsp.rename(tmp, join(dir, sub, name));
  return name;
}

async function list(store: MaildirStore, user: string, sub: string): Promise<string[]> {
  return (await fsp.readdir(join(store.maildirPath(user), sub))).sort();
}

async function readText(md: Maildrop, index: number): Promise<string> {
  let out = "";
  for await (const chunk of md.read(index)) out += Buffer.from(chunk).toString("latin1");
  return out;
}

// The MailStore contract suite runs on MaildirStore in pop3-test-harness
// (test/store-contract/maildir.test.ts), which publishes it as pop3-test-harness/store-contract.

describe("MaildirStore: layout and user names", () => {
  it("creates <root>/<user>/Maildir with cur, new and tmp on first open", async () => {
    const store = await makeStore();
    const md = await store.openMaildrop("alice@example.com");
    const dir = join(store.root, "alice@example.com", "Maildir");
    expect(store.maildirPath("alice@example.com")).toBe(dir);
    for (const sub of ["cur", "new", "tmp"]) {
      expect((await fsp.stat(join(dir, sub))).isDirectory()).toBe(true);
    }
    await md.release();
  });

  it("with createMissing: false, refuses a user without a Maildir and creates nothing", async () => {
    const root = await tempRoot();
    const store = new MaildirStore({ root, createMissing: false });
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(BackendError);
    expect(await fsp.readdir(root)).toEqual([]);
  });

  it("uses a custom layout", async () => {
    const root = await tempRoot();
    const store = new MaildirStore({ root, layout: (user) => join("mail", user) });
    await deliver(store, "alice", "hello\r\n");
    const md = await store.openMaildrop("alice");
    expect(md.messages).toHaveLength(1);
    expect(existsSync(join(root, "mail", "alice", "cur"))).toBe(true);
    await md.release();
  });

  it.each([
    ["empty", ""],
    ["dot", "."],
    ["dot dot", ".."],
    ["slash", "a/b"],
    ["parent path", "../etc"],
    ["backslash", "a\\b"],
    ["NUL", "a\0b"],
    ["newline", "a\nb"],
    ["DEL", "a\x7fb"],
    ["C1 control", "a\u0085b"],
    ["lone surrogate", "a\ud800b"],
    ["too long", "a".repeat(256)],
    ["too long in UTF-8", "é".repeat(128)],
  ])("refuses the user name: %s", async (_label, user) => {
    const root = await tempRoot();
    const store = new MaildirStore({ root });
    await expect(store.openMaildrop(user)).rejects.toBeInstanceOf(InvalidUserError);
    expect(await fsp.readdir(root)).toEqual([]);
  });

  it("accepts names that only look odd", async () => {
    const store = await makeStore();
    for (const user of ["..alice", "a.b", "a".repeat(255), "ümlaut", "x y"]) {
      const md = await store.openMaildrop(user);
      await md.release();
    }
  });

  it("refuses a layout that resolves outside the root, or to the root itself", async () => {
    const root = await tempRoot();
    for (const layout of [() => "..", () => "../elsewhere", () => "/tmp/x", () => "."]) {
      const store = new MaildirStore({ root, layout });
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(InvalidUserError);
    }
    expect(await fsp.readdir(root)).toEqual([]);
  });

  it("validates its options", () => {
    expect(() => new MaildirStore({ root: "" })).toThrow(TypeError);
    expect(() => new MaildirStore({ root: "/x", lockStaleMs: 0 })).toThrow(RangeError);
  });
});

describe("MaildirStore: new/ and cur/", () => {
  it("moves new/ to cur/ with :2, and keeps the flags of messages already in cur/", async () => {
    const store = await makeStore();
    const fresh = await deliver(store, "alice", "fresh\r\n");
    const seen = await deliver(store, "alice", "seen\r\n", `${uniqueName()}:2,RS`, "cur");
    const md = await store.openMaildrop("alice");
    expect(await list(store, "alice", "new")).toEqual([]);
    expect(await list(store, "alice", "cur")).toEqual([`${fresh}:2,`, seen].sort());
    expect(md.messages.map((m) => m.uid)).toEqual([fresh, seen.replace(/:.*/, "")]);
    await md.release();
  });

  it("shows mail delivered to new/ during a session only in the next session", async () => {
    const store = await makeStore();
    await deliver(store, "alice", "one\r\n");
    const md = await store.openMaildrop("alice");
    const late = await deliver(store, "alice", "two\r\n");
    expect(md.messages).toHaveLength(1);
    await md.commit([md.messages[0]!.uid]);
    expect(await list(store, "alice", "new")).toEqual([late]);
    const next = await store.openMaildrop("alice");
    expect(next.messages.map((m) => m.uid)).toEqual([late]);
    expect(await readText(next, 0)).toBe("two\r\n");
    expect(await list(store, "alice", "cur")).toEqual([`${late}:2,`]);
    await next.release();
  });

  it("ignores dot files, directories, symlinks and tmp/, and touches none of them", async () => {
    const store = await makeStore();
    const real = await deliver(store, "alice", "real\r\n");
    const dir = store.maildirPath("alice");
    await fsp.writeFile(join(dir, "new", ".hidden"), "x");
    await fsp.writeFile(join(dir, "cur", ".hidden:2,"), "x");
    await fsp.mkdir(join(dir, "cur", "1700000000.dir:2,"));
    await fsp.mkdir(join(dir, "new", "1700000000.newdir"));
    await fsp.symlink(join(dir, "new", real), join(dir, "cur", "1700000000.link:2,"));
    await fsp.writeFile(join(dir, "tmp", "1700000000.inflight"), "half");
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.uid)).toEqual([real]);
    expect(await list(store, "alice", "new")).toEqual([".hidden", "1700000000.newdir"]);
    expect(await list(store, "alice", "tmp")).toEqual(["1700000000.inflight"]);
    expect(await list(store, "alice", "cur")).toEqual(
      [".hidden:2,", "1700000000.dir:2,", "1700000000.link:2,", `${real}:2,`].sort(),
    );
    await md.release();
  });

  it("numbers messages by delivery time, comparing numbers by value", async () => {
    const store = await makeStore();
    const names = [
      "1700000001.M40P9.host",
      "999999999.M1P1.host",
      "1700000001.M5P9.host",
      "1700000000.M999999P1.host",
      "1700000001.M5P9Q2.host",
      "no-timestamp",
    ];
    for (const name of names) await deliver(store, "alice", `${name}\r\n`, name);
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.uid)).toEqual([
      "999999999.M1P1.host",
      "1700000000.M999999P1.host",
      "1700000001.M5P9.host",
      "1700000001.M5P9Q2.host",
      "1700000001.M40P9.host",
      "no-timestamp",
    ]);
    expect(await readText(md, 4)).toBe("1700000001.M40P9.host\r\n");
    await md.release();
  });

  it("leaves a new/ message whose base name is already in cur/ where it is", async () => {
    const store = await makeStore();
    const name = uniqueName();
    await deliver(store, "alice", "in cur\r\n", `${name}:2,S`, "cur");
    await deliver(store, "alice", "duplicate\r\n", name, "new");
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.uid)).toEqual([name]);
    expect(await readText(md, 0)).toBe("in cur\r\n");
    expect(await list(store, "alice", "new")).toEqual([name]);
    await md.release();
  });
});

describe("MaildirStore: uids", () => {
  it("uses the base name, stable across flag changes and restarts", async () => {
    const root = await tempRoot();
    const store = new MaildirStore({ root });
    const name = await deliver(store, "alice", "x\r\n");
    const first = await store.openMaildrop("alice");
    expect(first.messages[0]!.uid).toBe(name);
    await first.release();
    const cur = join(store.maildirPath("alice"), "cur");
    await fsp.rename(join(cur, `${name}:2,`), join(cur, `${name}:2,FS`));
    const restarted = new MaildirStore({ root });
    const second = await restarted.openMaildrop("alice");
    expect(second.messages[0]!.uid).toBe(name);
    await second.release();
  });

  it("hashes long or non-ASCII base names to 32 hex digits", async () => {
    const store = await makeStore();
    const long = `1700000000.M1P1.${"h".repeat(80)}`;
    const unicode = "1700000001.M1P1.hôte";
    const exactly70 = `1700000002.M1P1.${"h".repeat(70 - 16)}`;
    await deliver(store, "alice", "a\r\n", long);
    await deliver(store, "alice", "b\r\n", unicode);
    await deliver(store, "alice", "c\r\n", exactly70);
    const md = await store.openMaildrop("alice");
    const utf8 = (s: string) => new TextEncoder().encode(s);
    expect(md.messages.map((m) => m.uid)).toEqual([
      toHex(md5(utf8(long))),
      toHex(md5(utf8(unicode))),
      exactly70,
    ]);
    expect(md.messages[0]!.uid).toMatch(/^[0-9a-f]{32}$/);
    await md.release();
    const again = await store.openMaildrop("alice");
    expect(again.messages[0]!.uid).toBe(toHex(md5(utf8(long))));
    await again.release();
  });
});

describe("MaildirStore: sizes", () => {
  it("takes Dovecot's W= size from the name without reading the file", async () => {
    const store = await makeStore();
    const body = "Subject: w\n\nbare LF body\n";
    const real = rfcOctetSize(new TextEncoder().encode(body));
    const honest = `1700000000.M1P1.host,S=${body.length},W=${real}`;
    // W= deliberately wrong: the store must report it, proving it did not measure the file.
    const lying = `1700000001.M1P1.host,S=${body.length},W=999:2,S`;
    await deliver(store, "alice", body, honest);
    await deliver(store, "alice", body, lying, "cur");
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.size)).toEqual([real, 999]);
    expect(await readText(md, 1)).toBe(body);
    await md.release();
    // Neither needed a computed size.
    expect(existsSync(join(store.maildirPath("alice"), SIZE_CACHE_FILE))).toBe(false);
  });

  it("keeps computed sizes in pop3-sizes.json by base name, mtime and length, for the next process", async () => {
    const store = await makeStore();
    const body = "Subject: c\n\n.line\n";
    const real = rfcOctetSize(new TextEncoder().encode(body));
    const name = await deliver(store, "alice", body);
    const gone = await deliver(store, "alice", "to be deleted\n");
    const dir = store.maildirPath("alice");
    const cacheFile = join(dir, SIZE_CACHE_FILE);

    const first = await store.openMaildrop("alice");
    expect(first.messages[0]!.size).toBe(real);
    await first.commit([gone]);
    const stats = await fsp.stat(join(dir, "cur", `${name}:2,`));
    const cache = JSON.parse(await fsp.readFile(cacheFile, "utf8"));
    expect(cache).toEqual({
      version: 1,
      entries: {
        [name]: [stats.mtimeMs, body.length, real],
        [gone]: [expect.any(Number), 14, 15],
      },
    });

    // Tamper with the cached size: a new store (a new process) that uses the file reports it.
    cache.entries[name][2] = 4242;
    await fsp.writeFile(cacheFile, JSON.stringify(cache));
    const second = await new MaildirStore({ root: store.root }).openMaildrop("alice");
    expect(second.messages.map((m) => m.size)).toEqual([4242]);
    await second.release();
    // The entry of the deleted message was dropped.
    expect(Object.keys(JSON.parse(await fsp.readFile(cacheFile, "utf8")).entries)).toEqual([name]);

    // A changed mtime invalidates the entry: the real size is measured again.
    await fsp.utimes(join(dir, "cur", `${name}:2,`), new Date(2001, 0, 1), new Date(2001, 0, 1));
    const third = await new MaildirStore({ root: store.root }).openMaildrop("alice");
    expect(third.messages.map((m) => m.size)).toEqual([real]);
    await third.release();

    // A broken cache file is ignored and rebuilt.
    await fsp.writeFile(cacheFile, "{ not json");
    const fourth = await new MaildirStore({ root: store.root }).openMaildrop("alice");
    expect(fourth.messages.map((m) => m.size)).toEqual([real]);
    await fourth.release();
    expect(JSON.parse(await fsp.readFile(cacheFile, "utf8")).entries[name][2]).toBe(real);
    expect((await fsp.readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("MaildirStore: sizes remembered in memory", () => {
  /** Rewrites a message file in place (same inode, so neither cur/ nor new/ changes). */
  async function rewriteInPlace(store: MaildirStore, name: string, text: string): Promise<void> {
    const path = join(store.maildirPath("alice"), "cur", `${name}:2,`);
    const handle = await fsp.open(path, "r+");
    await handle.truncate(0);
    await handle.write(Buffer.from(text), 0, text.length, 0);
    await handle.close();
  }

  it("notices a message rewritten in place when it is read, and measures it at the next login", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "abc\r\n");
    await deliver(store, "alice", "other\r\n");
    const first = await store.openMaildrop("alice");
    expect(first.messages.map((m) => m.size)).toEqual([5, 7]);
    await first.release();
    await rewriteInPlace(store, name, "abcdef\r\n");
    // The directories did not change: the size from memory is announced (the server drops a
    // RETR whose octets differ from it)...
    const second = await store.openMaildrop("alice");
    expect(second.messages.map((m) => m.size)).toEqual([5, 7]);
    // ...reading gives one octet more than announced (enough for the server to refuse it), and
    // shows the file changed: its size is forgotten.
    expect(await readText(second, 0)).toBe("abcdef");
    await second.release();
    const third = await store.openMaildrop("alice");
    expect(third.messages.map((m) => m.size)).toEqual([8, 7]);
    await third.release();
  });

  it("with indexMessages: 0, checks every size against its file at each login", async () => {
    const store = new MaildirStore({ root: await tempRoot(), indexMessages: 0 });
    const name = await deliver(store, "alice", "abc\r\n");
    await store.openMaildrop("alice").then((md) => md.release());
    await rewriteInPlace(store, name, "abcdef\r\n");
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.size)).toEqual([8]);
    await md.release();
  });

  it("validates its options", () => {
    expect(() => new MaildirStore({ root: "/x", indexMessages: -1 })).toThrow(RangeError);
    expect(() => new MaildirStore({ root: "/x", indexMessages: 1.5 })).toThrow(RangeError);
  });
});

describe("MaildirStore: reading", () => {
  it("finds a message whose flags another MUA changed, and deletes it", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "flagged\r\n");
    const md = await store.openMaildrop("alice");
    const cur = join(store.maildirPath("alice"), "cur");
    await fsp.rename(join(cur, `${name}:2,`), join(cur, `${name}:2,S`));
    expect(await readText(md, 0)).toBe("flagged\r\n");
    await fsp.rename(join(cur, `${name}:2,S`), join(cur, `${name}:2,RS`));
    await md.commit([name]);
    expect(await fsp.readdir(cur)).toEqual([]);
  });

  it("rejects with BackendError when the file vanished", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "gone\r\n");
    const md = await store.openMaildrop("alice");
    await fsp.unlink(join(store.maildirPath("alice"), "cur", `${name}:2,`));
    const reading = (async () => {
      for await (const _ of md.read(0)) {
        // nothing
      }
    })();
    await expect(reading).rejects.toBeInstanceOf(BackendError);
    // Committing a message that is already gone is fine.
    await md.commit([name]);
  });
});

describe("MaildirStore: commit", () => {
  it("unlinks, then fsyncs cur/, before it resolves", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "bye\r\n");
    const keep = await deliver(store, "alice", "stay\r\n");
    const md = await store.openMaildrop("alice");
    const file = join(store.maildirPath("alice"), "cur", `${name}:2,`);
    const goneWhenSynced: boolean[] = [];
    const original = syncIo.fsync;
    const sync = vi.spyOn(syncIo, "fsync").mockImplementation((fd) => {
      goneWhenSynced.push(!existsSync(file));
      return original(fd);
    });
    await md.commit([name]);
    expect(sync).toHaveBeenCalled();
    expect(goneWhenSynced).toEqual([true]);
    expect(await list(store, "alice", "cur")).toEqual([`${keep}:2,`]);
  });

  it("rejects with BackendError when the fsync fails", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "bye\r\n");
    const md = await store.openMaildrop("alice");
    vi.spyOn(syncIo, "fsync").mockRejectedValue(Object.assign(new Error("EIO"), { code: "EIO" }));
    await expect(md.commit([name])).rejects.toBeInstanceOf(BackendError);
    vi.restoreAllMocks();
    // The lock is released all the same.
    const next = await store.openMaildrop("alice");
    await next.release();
  });

  it("rejects with BackendError when a file cannot be removed, after removing the others", async () => {
    const store = await makeStore();
    const stuck = await deliver(store, "alice", "stuck\r\n");
    const other = await deliver(store, "alice", "other\r\n");
    const md = await store.openMaildrop("alice");
    // Replace the message by a directory of the same name: unlink fails with EISDIR/EPERM.
    const path = join(store.maildirPath("alice"), "cur", `${stuck}:2,`);
    await fsp.unlink(path);
    await fsp.mkdir(path);
    const error = await md.commit([stuck, other]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toContain("1 of 2");
    expect(await list(store, "alice", "cur")).toEqual([`${stuck}:2,`]);
  });

  it("deletes nothing if the lock was lost", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "keep me\r\n");
    const md = await store.openMaildrop("alice");
    const lockFile = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    const foreign = JSON.stringify({ pid: 1, host: "elsewhere", created: "", token: "theirs" });
    await fsp.writeFile(lockFile, foreign);
    await expect(md.commit([name])).rejects.toBeInstanceOf(BackendError);
    expect(await list(store, "alice", "cur")).toEqual([`${name}:2,`]);
    // Nor did it remove the other session's lock.
    expect(await fsp.readFile(lockFile, "utf8")).toBe(foreign);
  });
});

describe("MaildirStore: lock", () => {
  const lockPath = (store: MaildirStore, user: string) =>
    join(store.maildirPath(user), MAILDIR_LOCK_FILE);

  async function writeLock(store: MaildirStore, user: string, contents: unknown, age = 0) {
    await fsp.mkdir(store.maildirPath(user), { recursive: true });
    const file = lockPath(store, user);
    await fsp.writeFile(file, typeof contents === "string" ? contents : JSON.stringify(contents));
    if (age > 0) {
      const when = new Date(Date.now() - age);
      await fsp.utimes(file, when, when);
    }
  }

  it("writes { pid, host, created } and removes the file on release and after commit", async () => {
    const store = await makeStore();
    const md = await store.openMaildrop("alice");
    const info = JSON.parse(await fsp.readFile(lockPath(store, "alice"), "utf8"));
    expect(info).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Number.isNaN(Date.parse(info.created))).toBe(false);
    await md.release();
    expect(existsSync(lockPath(store, "alice"))).toBe(false);
    const md2 = await store.openMaildrop("alice");
    await md2.commit([]);
    expect(existsSync(lockPath(store, "alice"))).toBe(false);
  });

  it("is exclusive across store instances in one process", async () => {
    const root = await tempRoot();
    const one = new MaildirStore({ root });
    const two = new MaildirStore({ root });
    const md = await one.openMaildrop("alice");
    await expect(two.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await md.release();
    const md2 = await two.openMaildrop("alice");
    await expect(one.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await md2.release();
  });

  it("takes over the lock of a dead process on this host", async () => {
    const store = await makeStore();
    const child = spawnSync(process.execPath, ["-e", ""]);
    expect(child.status).toBe(0);
    const deadPid = child.pid;
    await writeLock(store, "alice", {
      pid: deadPid,
      host: hostname(),
      created: new Date().toISOString(),
    });
    const md = await store.openMaildrop("alice");
    const info = JSON.parse(await fsp.readFile(lockPath(store, "alice"), "utf8"));
    expect(info.pid).toBe(process.pid);
    await md.release();
    expect(await fsp.readdir(store.maildirPath("alice"))).not.toContain(MAILDIR_LOCK_FILE);
  });

  it("takes over this process's own leftover lock, but not a live one", async () => {
    const store = await makeStore();
    await writeLock(store, "alice", { pid: process.pid, host: hostname(), token: "leftover" });
    const md = await store.openMaildrop("alice");
    await md.release();
  });

  it("respects a fresh lock of a live process or of another host", async () => {
    const store = await makeStore();
    await writeLock(store, "alice", { pid: process.ppid, host: hostname(), created: "" });
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await writeLock(store, "alice", { pid: 1, host: "other-host", created: "" });
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    // An unreadable lock that was just created may be mid-write: respected.
    await writeLock(store, "alice", "");
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    expect(existsSync(lockPath(store, "alice"))).toBe(true);
  });

  it("takes over a lock not refreshed for lockStaleMs, and an old unreadable one", async () => {
    const store = await makeStore({ lockStaleMs: 60_000 });
    await writeLock(store, "alice", { pid: process.ppid, host: "other-host" }, 120_000);
    const md = await store.openMaildrop("alice");
    await md.release();
    await writeLock(store, "alice", "garbage", 120_000);
    const md2 = await store.openMaildrop("alice");
    await md2.release();
    // No files were left behind by the takeovers.
    expect((await fsp.readdir(store.maildirPath("alice"))).sort()).toEqual(["cur", "new", "tmp"]);
  });

  it("refreshes the lock file's mtime while held", async () => {
    const store = await makeStore({ lockStaleMs: 300 });
    const md = await store.openMaildrop("alice");
    const file = lockPath(store, "alice");
    const old = new Date(2001, 0, 1);
    await fsp.utimes(file, old, old);
    await vi.waitFor(
      async () => {
        expect((await fsp.stat(file)).mtimeMs).toBeGreaterThan(old.getTime());
      },
      { timeout: 10_000, interval: 50 },
    );
    await md.release();
  });

  it("release does not remove a lock that is no longer ours", async () => {
    const store = await makeStore();
    const md = await store.openMaildrop("alice");
    const foreign = JSON.stringify({ pid: 1, host: "elsewhere", created: "", token: "theirs" });
    await fsp.writeFile(lockPath(store, "alice"), foreign);
    await md.release();
    expect(await fsp.readFile(lockPath(store, "alice"), "utf8")).toBe(foreign);
  });

  it("releases the lock when opening fails after taking it", async () => {
    const store = await makeStore();
    const name = await deliver(store, "alice", "x\r\n");
    // A directory where the message should move to: the rename from new/ fails.
    const blocker = join(store.maildirPath("alice"), "cur", `${name}:2,`);
    await fsp.mkdir(join(blocker, "sub"), { recursive: true });
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(BackendError);
    expect(existsSync(lockPath(store, "alice"))).toBe(false);
    await fsp.rm(blocker, { recursive: true });
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.uid)).toEqual([name]);
    await md.release();
  });
});

describe("MaildirLock takeover", () => {
  it("removes the stale file it judged, and puts back one that replaced it", async () => {
    const dir = await tempRoot();
    const file = join(dir, MAILDIR_LOCK_FILE);
    await fsp.writeFile(file, '{"pid":1,"host":"a"}');
    const stale = await inspect(syncIo, file);
    expect(stale?.info).toMatchObject({ pid: 1, host: "a" });
    // Another session took over and wrote a fresh lock before our rename.
    await fsp.rm(file);
    await fsp.writeFile(file, '{"pid":2,"host":"b"}');
    await expect(takeOver(syncIo, file, stale!)).rejects.toBeInstanceOf(MaildropInUseError);
    expect(await fsp.readFile(file, "utf8")).toBe('{"pid":2,"host":"b"}');
    // A refreshed mtime counts as a replacement too.
    const before = await inspect(syncIo, file);
    await fsp.utimes(file, new Date(), new Date(Date.now() + 5000));
    await expect(takeOver(syncIo, file, before!)).rejects.toBeInstanceOf(MaildropInUseError);
    expect(existsSync(file)).toBe(true);
    // The file it judged is removed.
    const current = await inspect(syncIo, file);
    await takeOver(syncIo, file, current!);
    expect(await fsp.readdir(dir)).toEqual([]);
  });
});

describe("MaildirStore.deliver", () => {
  it("delivers through tmp/ into new/, and the next session sees the message byte for byte", async () => {
    const root = await fsp.mkdtemp(join(tmpdir(), "pop3-deliver-"));
    try {
      const store = new MaildirStore({ root });
      const first = await store.deliver("carol", "Subject: one\n\nfirst\n");
      const second = await store.deliver("carol", Buffer.from("Subject: two\r\n\r\nsecond\r\n"));
      expect(first).not.toBe(second);
      expect(await fsp.readdir(join(root, "carol", "Maildir", "tmp"))).toEqual([]);
      expect(await fsp.readdir(join(root, "carol", "Maildir", "new"))).toHaveLength(2);
      const maildrop = await store.openMaildrop("carol");
      expect(maildrop.messages.map((m) => m.size)).toEqual([23, 24]);
      await maildrop.release();
      await expect(store.deliver("../evil", "x")).rejects.toMatchObject({ code: "POP3_BAD_USER" });
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});
