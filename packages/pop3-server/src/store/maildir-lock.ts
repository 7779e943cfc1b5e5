import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { hostname } from "node:os";
import { MaildropInUseError } from "../errors";
import { errorCode, isDiskFull, OPEN_UNTRUSTED } from "./common";
import { closeQuietly, type MaildirIo } from "./maildir-io";

/** What a lock file holds: who created it, and a random token that tells locks apart. */
export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  /** ISO 8601 time of creation. */
  readonly created: string;
  readonly token?: string;
}

/**
 * A non-empty lock file whose contents cannot be read is stale after this long (or `staleMs` if
 * less); an empty one is a full-disk lock (see `createExclusive`).
 */
const UNREADABLE_LOCK_GRACE_MS = 10_000;
const MAX_ATTEMPTS = 5;
const MAX_LOCK_FILE_BYTES = 4096;
/** setInterval's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
/** This host's name, as lock files record it (looked up once: it is one syscall per login). */
let thisHost: string | undefined;
const host = (): string => {
  thisHost ??= hostname();
  return thisHost;
};

/** Tokens of the locks this process holds, to tell our own leftovers from live locks. */
const heldTokens = new Set<string>();

/** A lock file as seen when it was judged (by `lstat`): its contents and identity. */
export interface Holder {
  readonly info: LockInfo | undefined;
  /** An empty regular file: a lock taken on a full disk (see `createExclusive`). */
  readonly empty: boolean;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly mtimeMs: number;
}

/** The file a lock created: its identity, and whether it is empty (see `createExclusive`). */
interface Created {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly empty: boolean;
}

/**
 * An exclusive lock file (`pop3.lock`) created with `O_EXCL`, holding `{ pid, host, created,
 * token }` as JSON. While held, its mtime is refreshed every `staleMs / 3` by an unref'd timer.
 *
 * An existing lock is stale, and is taken over, when its holder is on this host and its pid is
 * gone (`process.kill(pid, 0)` gives `ESRCH`), when it is this process's own lock that no
 * maildrop holds any more, or when its mtime is older than `staleMs`. The takeover renames the
 * stale file aside and checks that the file it moved is the one it judged (same inode and mtime);
 * if another session replaced it in between, it puts that file back and reports the maildrop in
 * use. Anything else is a live holder: `MaildropInUseError`.
 *
 * On a full disk the lock file is created empty (see `createExclusive`), so that users can still
 * log in and delete mail. An empty lock names no holder: it is live until `staleMs` after its
 * last refresh, and its holder knows it by inode.
 *
 * The lock file is never followed if it is a symbolic link (or read if it is a FIFO): it is
 * judged by `lstat` as an unreadable lock, refreshed with `lutimes`, and a takeover removes the
 * link, not its target. `O_EXCL` already refuses to create the lock through a link.
 */
export class MaildirLock {
  readonly #io: MaildirIo;
  readonly #file: string;
  readonly #token: string;
  readonly #created: Created;
  #timer: ReturnType<typeof setInterval> | undefined;
  #released = false;

  private constructor(
    io: MaildirIo,
    file: string,
    token: string,
    staleMs: number,
    created: Created,
  ) {
    this.#io = io;
    this.#file = file;
    this.#token = token;
    this.#created = created;
    heldTokens.add(token);
    const every = Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(staleMs / 3)));
    this.#timer = setInterval(() => this.#refresh(), every);
    this.#timer.unref();
  }

  static async acquire(io: MaildirIo, file: string, staleMs: number): Promise<MaildirLock> {
    const token = randomBytes(16).toString("hex");
    const info: LockInfo = {
      pid: process.pid,
      host: host(),
      created: new Date().toISOString(),
      token,
    };
    const contents = Buffer.from(`${JSON.stringify(info)}\n`);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const created = await createExclusive(io, file, contents);
      if (created !== undefined) return new MaildirLock(io, file, token, staleMs, created);
      const holder = await inspect(io, file);
      if (holder === undefined) continue; // released meanwhile: try again
      if (!isStale(holder, staleMs)) throw new MaildropInUseError();
      await takeOver(io, file, holder);
    }
    throw new MaildropInUseError("the maildrop lock is contended");
  }

  /** Whether the lock file is still the one this lock created. */
  async isHeld(): Promise<boolean> {
    if (this.#released) return false;
    return this.#isOurs();
  }

  async #isOurs(): Promise<boolean> {
    if (!this.#created.empty) {
      return (await readLockInfo(this.#io, this.#file))?.token === this.#token;
    }
    // An empty lock holds no token: it is ours while the name still holds our inode, still empty.
    const stats = await this.#io.lstat(this.#file);
    return (
      stats?.isFile() === true &&
      stats.size === 0n &&
      stats.dev === this.#created.dev &&
      stats.ino === this.#created.ino
    );
  }

  /**
   * Stops the refresh and removes the lock file if it is still ours. Never rejects: a lock file
   * that could not be removed is stale for this process at once and for others after `staleMs`.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    heldTokens.delete(this.#token);
    try {
      if (await this.#isOurs()) await this.#io.unlink(this.#file);
    } catch {
      // See above: the leftover is recognised as stale.
    }
  }

  #refresh(): void {
    // lutimes: if the lock was replaced by a link, touch the link, never a file it points to.
    this.#io.lutimes(this.#file, new Date()).catch(() => {
      // Gone or not writable: `isHeld` tells the commit.
    });
  }
}

/**
 * Creates `file` with `O_EXCL` (which refuses any existing name, a symbolic link too, dangling
 * or not) and writes `contents`; undefined if the name exists.
 *
 * On a full disk (or quota) the contents cannot be written, but creating the file needed only an
 * inode and a directory entry, which a full disk usually still has. The lock is then kept empty
 * (truncated, in case a part was written: a partial lock would be taken for garbage), so a user
 * can log in to read and delete mail and so make room. Node has no `flock`/`fcntl` lock to fall
 * back on, and an in-process lock would not exclude other servers; if not even an inode is left,
 * the open fails and the login is refused with `[SYS/TEMP]`.
 */
async function createExclusive(
  io: MaildirIo,
  file: string,
  contents: Uint8Array,
): Promise<Created | undefined> {
  let fd: number;
  try {
    fd = await io.open(file, CREATE_NEW, 0o600);
  } catch (error) {
    if (errorCode(error) === "EEXIST") return undefined;
    throw error;
  }
  try {
    let empty = false;
    try {
      await io.write(fd, contents);
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      await io.ftruncate(fd, 0);
      empty = true;
    }
    const stats = await io.fstatBig(fd);
    await io.close(fd);
    return { dev: stats.dev, ino: stats.ino, empty };
  } catch (error) {
    await closeQuietly(io, fd);
    await io.unlink(file).catch(() => {});
    throw error;
  }
}

/** The lock file's contents; undefined if it is missing, unparseable or a symbolic link. */
async function readLockInfo(io: MaildirIo, file: string): Promise<LockInfo | undefined> {
  let text: string;
  try {
    const fd = await io.open(file, OPEN_UNTRUSTED);
    try {
      const buffer = Buffer.allocUnsafe(MAX_LOCK_FILE_BYTES);
      const bytesRead = await io.read(fd, buffer, 0);
      text = buffer.toString("utf8", 0, bytesRead);
    } finally {
      await closeQuietly(io, fd);
    }
  } catch (error) {
    // ELOOP: a link planted as the lock file, not followed (its target is never read).
    const code = errorCode(error);
    if (code === "ENOENT" || code === "ELOOP") return undefined;
    throw error;
  }
  return parseLockInfo(text);
}

export function parseLockInfo(text: string): LockInfo | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { pid, host, created, token } = value as Record<string, unknown>;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (typeof host !== "string") return undefined;
  return {
    pid,
    host,
    created: typeof created === "string" ? created : "",
    ...(typeof token === "string" ? { token } : {}),
  };
}

/** Reads the lock file's holder, or undefined if there is none. Exported for tests. */
export async function inspect(io: MaildirIo, file: string): Promise<Holder | undefined> {
  // lstat: a link, FIFO or directory planted as the lock is judged as itself, an unreadable
  // lock, and never opened.
  const stats = await io.lstat(file);
  if (stats === undefined) return undefined;
  const regular = stats.isFile();
  const info = regular ? await readLockInfo(io, file) : undefined;
  return {
    info,
    empty: regular && stats.size === 0n,
    dev: stats.dev,
    ino: stats.ino,
    mtimeNs: stats.mtimeNs,
    mtimeMs: Number(stats.mtimeMs),
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errorCode(error) !== "ESRCH";
  }
}

function isStale(holder: Holder, staleMs: number): boolean {
  const age = Date.now() - holder.mtimeMs;
  const info = holder.info;
  // An empty lock names no holder (see `createExclusive`): only its age tells. Anything else
  // unreadable is garbage, or a lock being written, respected for a moment.
  if (info === undefined && holder.empty) return age > staleMs;
  if (info === undefined) return age > Math.min(staleMs, UNREADABLE_LOCK_GRACE_MS);
  if (info.host === host()) {
    if (info.pid === process.pid) {
      if (info.token === undefined || !heldTokens.has(info.token)) return true;
    } else if (!processAlive(info.pid)) {
      return true;
    }
  }
  return age > staleMs;
}

/**
 * Removes the stale lock `holder` describes, unless another session replaced or refreshed it
 * meanwhile (then it is put back and this throws `MaildropInUseError`). Exported for tests.
 */
export async function takeOver(io: MaildirIo, file: string, holder: Holder): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    await io.rename(file, aside);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return; // someone else removed it: try again
    throw error;
  }
  const moved = await io.lstat(aside);
  if (
    moved !== undefined &&
    moved.dev === holder.dev &&
    moved.ino === holder.ino &&
    moved.mtimeNs === holder.mtimeNs
  ) {
    await io.unlink(aside);
    return;
  }
  // We moved a lock created or refreshed after we looked: put it back without overwriting.
  try {
    await io.link(aside, file);
    await io.unlink(aside);
  } catch (error) {
    if (errorCode(error) !== "EEXIST") await io.rename(aside, file).catch(() => {});
    else await io.unlink(aside).catch(() => {});
  }
  throw new MaildropInUseError();
}
