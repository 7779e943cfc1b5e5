import { spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, openSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BackendError, MaildropInUseError } from "../../src/errors";
import { UnsafeMaildropError } from "../../src/store/common";
import { SIZE_CACHE_FILE } from "../../src/store/maildir-size-cache";
import { MAILDIR_LOCK_FILE, MaildirStore } from "../../src/store/maildir-store";
import type { Maildrop } from "../../src/store/types";
import { RawClient, startServer, USERS } from "../support";

// A user may own their Maildir and put links (or FIFOs) anywhere in it, at any time. None of
// them may make the store read, write or delete outside that Maildir, or hang.

const dirs: string[] = [];
const fifos: string[] = [];

afterAll(async () => {
  // A reader stuck opening a FIFO (the bug these tests guard against) is let go.
  for (const fifo of fifos) unblockFifo(fifo);
  for (const dir of dirs) await fsp.rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A store on a fresh root, and a directory outside it holding a secret file. */
async function setup(
  options: { syncIo?: boolean; indexMessages?: number } = {},
): Promise<{ store: MaildirStore; root: string; outside: string }> {
  const root = await tempDir("pop3-symlink-root-");
  const outside = await tempDir("pop3-symlink-outside-");
  await fsp.writeFile(join(outside, "secret"), "SECRET outside the mail root\r\n");
  return { store: new MaildirStore({ root, ...options }), root, outside };
}

/** Delivers `text` and returns its uid (the base name), as it appears in cur/ after a login. */
async function deliver(store: MaildirStore, user: string, text: string): Promise<string> {
  return basename(await store.deliver(user, text));
}

function curPath(store: MaildirStore, user: string, uid: string): string {
  return join(store.maildirPath(user), "cur", `${uid}:2,`);
}

function mkfifo(path: string): void {
  const made = spawnSync("mkfifo", [path]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  fifos.push(path);
}

/** Opens a FIFO as a writer and closes it: a reader blocked in open() returns. */
function unblockFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_RDWR | constants.O_NONBLOCK));
  } catch {
    // gone
  }
}

/** Reads message `index` to its end; the chunks it gave before failing, and the failure. */
async function drain(md: Maildrop, index: number): Promise<{ text: string; error: unknown }> {
  let text = "";
  try {
    for await (const chunk of md.read(index)) text += Buffer.from(chunk).toString("latin1");
  } catch (error) {
    return { text, error };
  }
  return { text, error: undefined };
}

/** Sets a path's own times (not a link's target) into the past. */
async function age(path: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  await fsp.lutimes(path, when, when);
}

// With syncIo (the default) small messages are read at once; without, through the thread pool
// and read ahead of the client's next RETR: both paths must refuse what replaced a message.
describe.each([{ syncIo: true }, { syncIo: false }])(
  "MaildirStore (syncIo: $syncIo): a message replaced after the login",
  (mode) => {
    it("is not read when it became a link to a file outside the root", async () => {
      const { store, outside } = await setup(mode);
      const uid = await deliver(store, "alice", "mine\r\n");
      const md = await store.openMaildrop("alice");
      const file = curPath(store, "alice", uid);
      await fsp.unlink(file);
      await fsp.symlink(join(outside, "secret"), file);
      const { text, error } = await drain(md, 0);
      expect(error).toBeInstanceOf(BackendError);
      expect(text).toBe("");
      await md.release();
    });

    it("is not read on the read-ahead path either", async () => {
      const { store, outside } = await setup(mode);
      await deliver(store, "alice", "first\r\n");
      const second = await deliver(store, "alice", "second\r\n");
      const md = await store.openMaildrop("alice");
      const file = curPath(store, "alice", second);
      await fsp.unlink(file);
      await fsp.symlink(join(outside, "secret"), file);
      // Reading message 1 reads message 2 ahead: it must not take the link's target either.
      expect(await drain(md, 0)).toEqual({ text: "first\r\n", error: undefined });
      const { text, error } = await drain(md, 1);
      expect(error).toBeInstanceOf(BackendError);
      expect(text).toBe("");
      await md.release();
    });

    it("fails at once, without blocking, when it became a FIFO", async () => {
      const { store } = await setup(mode);
      await deliver(store, "alice", "first\r\n");
      const second = await deliver(store, "alice", "second\r\n");
      const md = await store.openMaildrop("alice");
      const file = curPath(store, "alice", second);
      await fsp.unlink(file);
      mkfifo(file);
      expect((await drain(md, 0)).error).toBeUndefined(); // reads message 2 ahead
      const { text, error } = await drain(md, 1);
      expect(error).toBeInstanceOf(BackendError);
      expect(text).toBe("");
      await md.release();
    }, 3000);

    it("is deleted as a name when it became a link: the link goes, never its target", async () => {
      // unlink(2) does not follow a link in the last component; this guards against "resolving"
      // names before unlinking them.
      const { store, outside } = await setup(mode);
      const uid = await deliver(store, "alice", "bye\r\n");
      const md = await store.openMaildrop("alice");
      const file = curPath(store, "alice", uid);
      await fsp.unlink(file);
      await fsp.symlink(join(outside, "secret"), file);
      await md.commit([uid]);
      expect(existsSync(file)).toBe(false);
      expect(await fsp.readFile(join(outside, "secret"), "utf8")).toBe(
        "SECRET outside the mail root\r\n",
      );
    });
  },
);

describe("MaildirStore: links on the way to a Maildir", () => {
  it("refuses a Maildir that is a link to another user's Maildir, and touches neither", async () => {
    const { store, root } = await setup();
    await deliver(store, "bob", "for bob only\r\n");
    const bobBefore = await listTree(join(root, "bob"));
    await fsp.mkdir(join(root, "alice"));
    await fsp.symlink("../bob/Maildir", join(root, "alice", "Maildir"));
    const error = await store.openMaildrop("alice").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeMaildropError);
    expect(error).toMatchObject({ code: "POP3_UNSAFE_MAILDROP", responseCode: "SYS/PERM" });
    expect((error as Error).message).toBe("alice/Maildir is a symbolic link");
    // bob's new mail was not moved to cur/ nor locked by alice's login.
    expect(await listTree(join(root, "bob"))).toEqual(bobBefore);
  });

  it("refuses a user directory that is a link to another user's", async () => {
    const { store, root } = await setup();
    await deliver(store, "bob", "for bob only\r\n");
    await fsp.symlink(join(root, "bob"), join(root, "carol"));
    await expect(store.openMaildrop("carol")).rejects.toBeInstanceOf(UnsafeMaildropError);
    await expect(store.deliver("carol", "x")).rejects.toBeInstanceOf(UnsafeMaildropError);
  });

  it("refuses a Maildir that is a link out of the root, and creates nothing there", async () => {
    const { store, root, outside } = await setup();
    await fsp.mkdir(join(root, "alice"));
    await fsp.symlink(outside, join(root, "alice", "Maildir"));
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(UnsafeMaildropError);
    expect(await fsp.readdir(outside)).toEqual(["secret"]);
  });

  it("refuses a layout path through a link below the root (the root itself may be one)", async () => {
    const real = await tempDir("pop3-symlink-real-root-");
    const linkedRoot = join(await tempDir("pop3-symlink-holder-"), "root");
    await fsp.symlink(real, linkedRoot);
    const store = new MaildirStore({ root: linkedRoot, layout: (user) => join("domain", user) });
    const md = await store.openMaildrop("alice");
    await md.release();
    expect(existsSync(join(real, "domain", "alice", "cur"))).toBe(true);
    await fsp.symlink(join(real, "domain"), join(real, "alias"));
    const aliased = new MaildirStore({ root: linkedRoot, layout: (user) => join("alias", user) });
    await expect(aliased.openMaildrop("alice")).rejects.toBeInstanceOf(UnsafeMaildropError);
  });

  it.each(["cur", "new", "tmp"])(
    "refuses a %s/ that is a link, and reads or moves nothing",
    async (sub) => {
      const { store, outside } = await setup();
      await deliver(store, "alice", "mine\r\n");
      const dir = store.maildirPath("alice");
      // The outside directory looks like a Maildir folder holding a message.
      await fsp.writeFile(join(outside, "1700000000.M1P1.elsewhere:2,"), "SECRET\r\n");
      await fsp.rename(join(dir, sub), join(dir, `${sub}.real`));
      await fsp.symlink(outside, join(dir, sub));
      const error = await store.openMaildrop("alice").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeMaildropError);
      expect((error as Error).message).toBe(`alice/Maildir/${sub} is a symbolic link`);
      await expect(store.deliver("alice", "x")).rejects.toBeInstanceOf(UnsafeMaildropError);
      expect((await fsp.readdir(outside)).sort()).toEqual([
        "1700000000.M1P1.elsewhere:2,",
        "secret",
      ]);
      expect(existsSync(join(dir, MAILDIR_LOCK_FILE))).toBe(false);
    },
  );

  it("deletes nothing when cur/ became a link during the session", async () => {
    const { store, outside } = await setup();
    const uid = await deliver(store, "alice", "mine\r\n");
    const md = await store.openMaildrop("alice");
    const dir = store.maildirPath("alice");
    // Swapped for a link to a directory holding a file of the same name.
    await fsp.rename(join(dir, "cur"), join(dir, "cur.real"));
    await fsp.writeFile(join(outside, `${uid}:2,`), "someone else's\r\n");
    await fsp.symlink(outside, join(dir, "cur"));
    const error = await md.commit([uid]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafeMaildropError);
    expect(await fsp.readFile(join(outside, `${uid}:2,`), "utf8")).toBe("someone else's\r\n");
    expect(await fsp.readdir(join(dir, "cur.real"))).toEqual([`${uid}:2,`]);
    // The lock was released all the same.
    expect(existsSync(join(dir, MAILDIR_LOCK_FILE))).toBe(false);
  });
});

describe("MaildirStore: the lock file and the size cache are not followed", () => {
  const liveLock = () =>
    JSON.stringify({ pid: process.ppid, host: hostname(), created: new Date().toISOString() });

  it("judges a link planted as the lock by itself, and removes the link, not its target", async () => {
    const { store, outside } = await setup();
    await store.openMaildrop("alice").then((md) => md.release());
    const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    // The target looks like a fresh lock of a live process: followed, it would lock alice out.
    const target = join(outside, "looks-like-a-lock");
    await fsp.writeFile(target, liveLock());
    const content = await fsp.readFile(target, "utf8");
    await fsp.symlink(target, lock);
    // A fresh unreadable lock may be mid-write: respected for a moment.
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await age(lock, 60_000);
    const md = await store.openMaildrop("alice");
    expect((await fsp.lstat(lock)).isFile()).toBe(true);
    await md.release();
    expect(existsSync(lock)).toBe(false);
    expect(await fsp.readFile(target, "utf8")).toBe(content);
  });

  it("refreshes the lock without following a link that replaced it", async () => {
    const { outside } = await setup();
    const root = await tempDir("pop3-symlink-root-");
    const store = new MaildirStore({ root, lockStaleMs: 150 }); // refreshed every 50 ms
    const md = await store.openMaildrop("alice");
    const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    const target = join(outside, "secret");
    const old = new Date(2001, 0, 1);
    await fsp.utimes(target, old, old);
    await fsp.unlink(lock);
    await fsp.symlink(target, lock);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await fsp.stat(target)).mtimeMs).toBe(old.getTime());
    expect((await fsp.lstat(lock)).mtimeMs).toBeGreaterThan(old.getTime());
    await md.release();
    expect(await fsp.readFile(target, "utf8")).toBe("SECRET outside the mail root\r\n");
  });

  it("judges a FIFO planted as the lock without opening it", async () => {
    const { store } = await setup();
    await store.openMaildrop("alice").then((md) => md.release());
    const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    mkfifo(lock);
    await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
    await age(lock, 60_000);
    const md = await store.openMaildrop("alice");
    await md.release();
    expect(existsSync(lock)).toBe(false);
  }, 3000);

  it("neither follows nor blocks on a size cache that is a link or a FIFO", async () => {
    // Every login reads the file: nothing is remembered in memory between them.
    const { store, outside } = await setup({ indexMessages: 0 });
    const uid = await deliver(store, "alice", "four\r\n"); // 6 octets
    await store.openMaildrop("alice").then((md) => md.release());
    const cache = join(store.maildirPath("alice"), SIZE_CACHE_FILE);
    // A forged cache outside the root, matching the file's mtime and length, claiming 1 octet.
    const stats = await fsp.stat(curPath(store, "alice", uid));
    const forged = join(outside, "forged.json");
    const entries = { [uid]: [stats.mtimeMs, stats.size, 1] };
    await fsp.writeFile(forged, JSON.stringify({ version: 1, entries }));
    const forgedText = await fsp.readFile(forged, "utf8");
    await fsp.rm(cache);
    await fsp.symlink(forged, cache);
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.size)).toEqual([6]);
    await md.release();
    expect(await fsp.readFile(forged, "utf8")).toBe(forgedText);
    await fsp.rm(cache);
    mkfifo(cache);
    const again = await store.openMaildrop("alice");
    expect(again.messages.map((m) => m.size)).toEqual([6]);
    await again.release();
  }, 3000);
});

describe("the server over a Maildir with links", () => {
  it("never sends a file outside the root, and refuses a linked Maildir at login", async () => {
    const { store, root, outside } = await setup();
    const uid = await deliver(store, "alice", "mine\r\n");
    const t = await startServer({}, store);
    try {
      const client = await RawClient.connect(t.port);
      await client.login();
      expect(await client.command("LIST 1")).toBe("+OK 1 6");
      const file = curPath(store, "alice", uid);
      await fsp.unlink(file);
      await fsp.symlink(join(outside, "secret"), file);
      const received: string[] = [];
      client.socket.on("data", (chunk: Buffer) => received.push(chunk.toString("latin1")));
      // The connection answers -ERR or drops; either way the secret never leaves.
      const reply = await client.command("RETR 1");
      expect(reply === undefined || reply.startsWith("-ERR")).toBe(true);
      client.close();
      expect(received.join("")).not.toContain("SECRET");

      await fsp.symlink(join(root, "alice"), join(root, "bob"));
      const bob = await RawClient.connect(t.port);
      await bob.line();
      await bob.command("USER bob");
      expect(await bob.command(`PASS ${USERS.bob}`)).toBe(
        "-ERR [SYS/PERM] maildrop unavailable, contact the administrator",
      );
      bob.close();
    } finally {
      await t.close();
    }
  });
});

/** Every path under `dir` with its size, sorted: to show nothing changed. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    out.push(`${path}${entry.isFile() ? ` ${(await fsp.stat(path)).size}` : "/"}`);
  }
  return out.sort();
}
