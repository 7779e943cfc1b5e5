import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { IndexCache, MaildropIndex, SETTLE_MS } from "../../src/store/maildir-index";
import { type MaildirIo, syncIo } from "../../src/store/maildir-io";
import { type ScanStart, scan } from "../../src/store/maildir-scan";
import { MaildirStore } from "../../src/store/maildir-store";

// The in-memory index of the Maildir store (see MaildropIndex): when a listing may be reused,
// and when not. Scans run on real directories; the file-system calls are counted.

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await fsp.rm(dir, { recursive: true, force: true });
});

async function maildir(): Promise<string> {
  const root = await fsp.mkdtemp(join(tmpdir(), "pop3-index-test-"));
  dirs.push(root);
  const dir = join(root, "Maildir");
  for (const sub of ["cur", "new", "tmp"]) await fsp.mkdir(join(dir, sub), { recursive: true });
  return dir;
}

/** `syncIo`, counting the calls by name. */
function countingIo(): { io: MaildirIo; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const io = Object.fromEntries(
    Object.entries(syncIo).map(([name, value]) => [
      name,
      typeof value === "function"
        ? (...args: unknown[]) => {
            calls.set(name, (calls.get(name) ?? 0) + 1);
            return (value as (...a: unknown[]) => unknown)(...args);
          }
        : value,
    ]),
  ) as unknown as MaildirIo;
  return { io, calls };
}

/** What a login sees before it lists: lstat of cur/ and new/, at `startedMs`. */
async function start(dir: string, startedMs = Date.now()): Promise<ScanStart> {
  const cur = await fsp.lstat(join(dir, "cur"), { bigint: true });
  const fresh = await fsp.lstat(join(dir, "new"), { bigint: true });
  return { dir, cur, new: fresh, startedMs };
}

const uids = (listing: { messages: readonly { uid: string }[] }) =>
  listing.messages.map((m) => m.uid);

describe("MaildirStore's index: reusing a listing", () => {
  it("reuses the listing of settled directories without a single file-system call", async () => {
    const dir = await maildir();
    await fsp.writeFile(join(dir, "cur", "1700000001.a:2,"), "one\r\n");
    const index = new MaildropIndex();
    // As if the directories had not changed for longer than SETTLE_MS when they were listed.
    const settled = await start(dir, Date.now() + SETTLE_MS + 1000);
    const first = await scan(syncIo, settled, index, undefined);
    expect(uids(first)).toEqual(["1700000001.a"]);
    const { io, calls } = countingIo();
    const second = await scan(io, settled, index, undefined);
    expect(second).toBe(first);
    expect([...calls]).toEqual([]);
  });

  it("lists again a directory that changed within SETTLE_MS of its listing, even if its times look unchanged", async () => {
    // A second change within the file system's time tick can leave a directory's times as they
    // were: the listing of a directory that had just changed is never reused.
    const dir = await maildir();
    await fsp.writeFile(join(dir, "cur", "1700000001.a:2,"), "one\r\n");
    const index = new MaildropIndex();
    const justChanged = await start(dir); // its ctime is within SETTLE_MS of now
    expect(uids(await scan(syncIo, justChanged, index, undefined))).toEqual(["1700000001.a"]);
    await fsp.writeFile(join(dir, "cur", "1700000002.b:2,"), "two\r\n");
    // The same times as before (the coarse tick), yet the new message is seen.
    const { io, calls } = countingIo();
    const again = await scan(io, justChanged, index, undefined);
    expect(uids(again)).toEqual(["1700000001.a", "1700000002.b"]);
    expect(calls.get("readdir")).toBe(2);
  });

  it("compares directory times to the nanosecond", async () => {
    const dir = await maildir();
    await fsp.writeFile(join(dir, "cur", "1700000001.a:2,"), "one\r\n");
    const index = new MaildropIndex();
    const settled = await start(dir, Date.now() + SETTLE_MS + 1000);
    await scan(syncIo, settled, index, undefined);
    // One nanosecond later, in a time that still rounds to the same millisecond.
    const cur = settled.cur;
    const moved = {
      ...settled,
      cur: Object.assign(Object.create(cur), {
        mtimeNs: cur.mtimeNs + 1n,
        ctimeNs: cur.ctimeNs + 1n,
      }),
    };
    const { io, calls } = countingIo();
    await scan(io, moved, index, undefined);
    expect(calls.get("readdir")).toBe(2);
  });

  it("does not keep a listing that moved mail from new/, nor reuse it for a replaced directory", async () => {
    const dir = await maildir();
    await fsp.writeFile(join(dir, "new", "1700000001.a"), "one\r\n");
    const index = new MaildropIndex();
    const later = Date.now() + SETTLE_MS + 1000;
    await scan(syncIo, await start(dir, later), index, undefined);
    expect(index.listing).toBeUndefined();
    const settledListing = await scan(syncIo, await start(dir, later), index, undefined);
    expect(index.listing).toBe(settledListing);
    // cur/ replaced by another directory with the same contents: another inode, listed again.
    await fsp.rename(join(dir, "cur"), join(dir, "old-cur"));
    await fsp.cp(join(dir, "old-cur"), join(dir, "cur"), { recursive: true });
    const { io, calls } = countingIo();
    await scan(io, await start(dir, later), index, undefined);
    expect(calls.get("readdir")).toBe(2);
  });

  it("knows the size of every message it measured by base name, without a stat, after mail is deleted", async () => {
    const dir = await maildir();
    for (const n of [1, 2, 3])
      await fsp.writeFile(join(dir, "cur", `170000000${n}.m:2,`), `${n}\n`);
    const index = new MaildropIndex();
    const first = await scan(syncIo, await start(dir), index, undefined);
    expect(first.messages.map((m) => m.size)).toEqual([3, 3, 3]);
    await fsp.unlink(join(dir, "cur", "1700000002.m:2,"));
    const { io, calls } = countingIo();
    const second = await scan(io, await start(dir), index, undefined);
    expect(uids(second)).toEqual(["1700000001.m", "1700000003.m"]);
    expect([...calls.keys()].sort()).toEqual(["readdir"]);
    expect([...index.sizes.keys()].sort()).toEqual(["1700000001.m", "1700000003.m"]);
  });
});

describe("IndexCache", () => {
  const withMessages = (n: number): MaildropIndex => {
    const index = new MaildropIndex();
    for (let i = 0; i < n; i++) index.sizes.set(`m${i}`, { size: 1, bytes: 1, mtimeMs: 0 });
    return index;
  };

  it("keeps at most maxMessages messages, dropping the least recently used maildrops", () => {
    const cache = new IndexCache(10);
    const a = withMessages(4);
    const b = withMessages(4);
    cache.keep("/a", a);
    cache.keep("/b", b);
    expect(cache.get("/a")).toBe(a); // now the most recently used
    cache.keep("/c", withMessages(4));
    expect(cache.size).toEqual({ maildrops: 2, messages: 8 });
    expect(cache.get("/a")).toBe(a);
    expect(cache.get("/b")).not.toBe(b); // dropped: a fresh, empty index
    // A maildrop larger than the whole bound is not kept at all.
    cache.keep("/huge", withMessages(11));
    expect(cache.get("/huge").sizes.size).toBe(0);
    expect(cache.size.messages).toBeLessThanOrEqual(10);
  });

  it("keeps nothing with a bound of 0", () => {
    const cache = new IndexCache(0);
    cache.keep("/a", withMessages(1));
    expect(cache.size).toEqual({ maildrops: 0, messages: 0 });
  });
});

describe("MaildirStore with syncIo: false (every call through libuv's thread pool)", () => {
  it("reads small and large messages byte for byte, reads ahead, and commits", async () => {
    const root = await fsp.mkdtemp(join(tmpdir(), "pop3-index-test-"));
    dirs.push(root);
    const store = new MaildirStore({ root, syncIo: false });
    const large = Buffer.alloc(300_000, "line of a large message\r\n");
    const bodies = [Buffer.from("one\r\n"), large, Buffer.from("three\n"), Buffer.from("four\r\n")];
    for (const body of bodies) await store.deliver("alice", body);
    const md = await store.openMaildrop("alice");
    expect(md.messages.map((m) => m.size)).toEqual([5, 300_000, 7, 6]);
    for (const [i, body] of bodies.entries()) {
      const chunks: Buffer[] = [];
      for await (const chunk of md.read(i)) chunks.push(Buffer.from(chunk));
      expect(chunks.every((c) => c.length <= 64 * 1024)).toBe(true);
      expect(Buffer.concat(chunks).equals(body)).toBe(true);
    }
    await md.commit([md.messages[0]!.uid, md.messages[2]!.uid]);
    const next = await store.openMaildrop("alice");
    expect(next.messages.map((m) => m.size)).toEqual([300_000, 6]);
    await next.release();
  });
});
