import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BackendError, MaildropInUseError } from "../../src/errors";
import { errorCode } from "../../src/store/common";
import { MAILDIR_LOCK_FILE, MaildirStore } from "../../src/store/maildir-store";

// A real full filesystem: a 1 MiB tmpfs, mounted for this file. That needs root (CI runs as
// root); elsewhere these tests are skipped, and the skip says why.

/** Mounts a tmpfs with `options`; the mount point, or why it could not be mounted. */
function mountTmpfs(options: string): { dir: string } | { reason: string } {
  if (process.platform !== "linux") return { reason: "needs Linux (tmpfs)" };
  if (process.getuid?.() !== 0) return { reason: "needs root to mount a tmpfs" };
  const dir = mkdtempSync(join(tmpdir(), "pop3-full-disk-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
  if (mounted.status === 0) return { dir };
  rmdirSync(dir);
  return { reason: `mount -t tmpfs failed: ${String(mounted.stderr).trim() || mounted.error}` };
}

/**
 * Mounts a 2 MiB ext4 image through a loop device: 1 KiB blocks, so that a directory fills a
 * block soon, and no blocks reserved for root (the tests run as root).
 */
function mountExt4(): { dir: string } | { reason: string } {
  if (process.platform !== "linux") return { reason: "needs Linux (ext4 on a loop device)" };
  if (process.getuid?.() !== 0) return { reason: "needs root to mount a loop device" };
  const dir = mkdtempSync(join(tmpdir(), "pop3-full-ext4-"));
  const image = `${dir}.img`;
  const steps: [string, string[]][] = [
    ["truncate", ["-s", "2M", image]],
    ["mkfs.ext4", ["-q", "-F", "-m", "0", "-b", "1024", "-N", "256", "-O", "^has_journal", image]],
    ["mount", ["-o", "loop", image, dir]],
  ];
  for (const [command, args] of steps) {
    const done = spawnSync(command, args);
    if (done.status !== 0) {
      rmSync(image, { force: true });
      rmdirSync(dir);
      return { reason: `${command} failed: ${String(done.stderr).trim() || done.error}` };
    }
  }
  return { dir };
}

const disk = mountTmpfs("size=1m,mode=0700");
const inodes = mountTmpfs("size=4m,nr_inodes=16,mode=0700");
const ext4 = mountExt4();

afterAll(() => {
  for (const m of [disk, inodes, ext4]) {
    if ("dir" in m) {
      spawnSync("umount", [m.dir]);
      rmdirSync(m.dir);
    }
  }
  if ("dir" in ext4) rmSync(`${ext4.dir}.img`, { force: true });
});

function title(name: string, m: { dir: string } | { reason: string }): string {
  return "reason" in m ? `${name} (skipped: ${m.reason})` : name;
}

/** Fills the filesystem of `file`'s directory to the last byte; returns how many it wrote. */
function fill(file: string): number {
  const fd = openSync(file, "a");
  let written = 0;
  try {
    for (const size of [64 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x78);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (error) {
          if (errorCode(error) === "ENOSPC") break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe.skipIf(!("dir" in disk))(title("MaildirStore on a full disk", disk), () => {
  const mount = "dir" in disk ? disk.dir : "";

  it("delivers nothing half, and lets the user log in, read and delete to make room", async () => {
    const root = join(mount, "mail");
    const store = new MaildirStore({ root });
    const big = `Subject: big\r\n\r\n${"0123456789abcde\r\n".repeat(12_000)}`; // ~200 KiB
    await store.deliver("alice", big);
    await store.deliver("alice", big);
    await store.deliver("alice", big);
    // Nothing else can be written: not a message, not a lock's contents.
    expect(fill(join(mount, "filler"))).toBeGreaterThan(0);
    const tmp = join(store.maildirPath("alice"), "tmp");

    const failed = await store.deliver("alice", "Subject: small\r\n\r\nhi\r\n").catch((e) => e);
    expect(errorCode(failed)).toBe("ENOSPC");
    expect(await fsp.readdir(tmp)).toEqual([]);

    const md = await store.openMaildrop("alice");
    expect(md.messages).toHaveLength(3);
    // The lock could be created but not written: it is held empty, and it excludes.
    const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    expect((await fsp.stat(lock)).size).toBe(0);
    await expect(new MaildirStore({ root }).openMaildrop("alice")).rejects.toBeInstanceOf(
      MaildropInUseError,
    );
    let text = "";
    for await (const chunk of md.read(0)) text += Buffer.from(chunk).toString("latin1");
    expect(text).toBe(big);
    const first = md.messages[0]?.uid ?? "";
    await md.commit([first]);
    expect(await fsp.readdir(join(store.maildirPath("alice"), "cur"))).toHaveLength(2);
    await expect(fsp.stat(lock)).rejects.toMatchObject({ code: "ENOENT" });

    // The room made is usable at once.
    const delivered = await store.deliver("alice", "Subject: small\r\n\r\nhi\r\n");
    const next = await store.openMaildrop("alice");
    expect(next.messages.map((m) => m.uid)).toContain(basename(delivered));
    await next.release();
  });

  it("knows its empty lock by inode: one replaced by another empty file is not ours", async () => {
    const root = join(mount, "mail");
    const store = new MaildirStore({ root });
    fill(join(mount, "filler"));
    const md = await store.openMaildrop("alice");
    const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
    expect((await fsp.stat(lock)).size).toBe(0);
    const before = await fsp.readdir(join(store.maildirPath("alice"), "cur"));
    // Another session's empty lock now stands in its place.
    await fsp.unlink(lock);
    await fsp.writeFile(lock, "");
    const error = await md.commit(md.messages.map((m) => m.uid)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/lock was lost/);
    expect(await fsp.readdir(join(store.maildirPath("alice"), "cur"))).toEqual(before);
    expect((await fsp.stat(lock)).size).toBe(0); // not removed: it is not ours
  });
});

describe("MaildirStore: an empty lock file (one taken on a full disk)", () => {
  it("is live until lockStaleMs after its last refresh, not only for a moment", async () => {
    const root = mkdtempSync(join(tmpdir(), "pop3-empty-lock-"));
    try {
      const store = new MaildirStore({ root, lockStaleMs: 60_000 });
      await store.openMaildrop("alice").then((md) => md.release());
      const lock = join(store.maildirPath("alice"), MAILDIR_LOCK_FILE);
      await fsp.writeFile(lock, "");
      // Older than the grace for an unreadable lock (10 s), younger than lockStaleMs: live.
      const aged = async (ms: number) => {
        const when = new Date(Date.now() - ms);
        await fsp.utimes(lock, when, when);
      };
      await aged(30_000);
      await expect(store.openMaildrop("alice")).rejects.toBeInstanceOf(MaildropInUseError);
      await aged(120_000);
      const md = await store.openMaildrop("alice");
      await md.release();
      await expect(fsp.stat(lock)).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!("dir" in ext4))(title("MaildirStore on a full ext4", ext4), () => {
  const mount = "dir" in ext4 ? ext4.dir : "";

  it("logs in when cur/ cannot grow: new mail waits in new/ until there is room", async () => {
    const root = join(mount, "mail");
    const store = new MaildirStore({ root });
    const name = basename(await store.deliver("alice", "hello\r\n"));
    const cur = join(store.maildirPath("alice"), "cur");
    fill(join(mount, "filler"));
    // Fill cur/'s directory block too (with dot files, which the store ignores): moving the
    // message from new/ into cur/ then needs a block there is none of.
    for (let i = 0; ; i++) {
      try {
        await fsp.writeFile(join(cur, `.pad-${i}`), "");
      } catch (error) {
        expect(errorCode(error)).toBe("ENOSPC");
        break;
      }
    }
    const md = await store.openMaildrop("alice");
    expect(md.messages).toEqual([]);
    expect(await fsp.readdir(join(store.maildirPath("alice"), "new"))).toEqual([name]);
    await md.release();
    await fsp.rm(join(mount, "filler"));
    const next = await store.openMaildrop("alice");
    expect(next.messages.map((m) => m.uid)).toEqual([name]);
    await next.release();
  });
});

describe.skipIf(!("dir" in inodes))(title("MaildirStore without free inodes", inodes), () => {
  const mount = "dir" in inodes ? inodes.dir : "";

  it("refuses the login with a backend error ([SYS/TEMP]): no lock can be made", async () => {
    const root = join(mount, "mail");
    const store = new MaildirStore({ root });
    await store.deliver("alice", "hello\r\n");
    // Use up the inodes.
    for (let i = 0; ; i++) {
      try {
        await fsp.writeFile(join(mount, `f${i}`), "");
      } catch (error) {
        expect(errorCode(error)).toBe("ENOSPC");
        break;
      }
    }
    const error = await store.openMaildrop("alice").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(errorCode((error as Error).cause)).toBe("ENOSPC");
  });
});
