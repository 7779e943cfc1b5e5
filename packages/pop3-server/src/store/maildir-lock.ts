import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import { MaildropInUseError } from "../errors";
import { errorCode } from "./common";

/** What a lock file holds: who created it, and a random token that tells locks apart. */
export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  /** ISO 8601 time of creation. */
  readonly created: string;
  readonly token?: string;
}

/** A lock file whose contents cannot be read is stale after this long (or `staleMs` if less). */
const UNREADABLE_LOCK_GRACE_MS = 10_000;
const MAX_ATTEMPTS = 5;
const MAX_LOCK_FILE_BYTES = 4096;
/** setInterval's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Tokens of the locks this process holds, to tell our own leftovers from live locks. */
const heldTokens = new Set<string>();

/** A lock file as seen when it was judged: its contents and identity. */
export interface Holder {
  readonly info: LockInfo | undefined;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly mtimeMs: number;
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
 */
export class MaildirLock {
  readonly #file: string;
  readonly #token: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #released = false;

  private constructor(file: string, token: string, staleMs: number) {
    this.#file = file;
    this.#token = token;
    heldTokens.add(token);
    const every = Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(staleMs / 3)));
    this.#timer = setInterval(() => this.#refresh(), every);
    this.#timer.unref();
  }

  static async acquire(file: string, staleMs: number): Promise<MaildirLock> {
    const token = randomBytes(16).toString("hex");
    const info: LockInfo = {
      pid: process.pid,
      host: hostname(),
      created: new Date().toISOString(),
      token,
    };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (await createExclusive(file, `${JSON.stringify(info)}\n`)) {
        return new MaildirLock(file, token, staleMs);
      }
      const holder = await inspect(file);
      if (holder === undefined) continue; // released meanwhile: try again
      if (!isStale(holder, staleMs)) throw new MaildropInUseError();
      await takeOver(file, holder);
    }
    throw new MaildropInUseError("the maildrop lock is contended");
  }

  /** Whether the lock file is still the one this lock created. */
  async isHeld(): Promise<boolean> {
    if (this.#released) return false;
    const info = await readLockInfo(this.#file);
    return info?.token === this.#token;
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
      const info = await readLockInfo(this.#file);
      if (info?.token === this.#token) await fsp.unlink(this.#file);
    } catch {
      // See above: the leftover is recognised as stale.
    }
  }

  #refresh(): void {
    const now = new Date();
    fsp.utimes(this.#file, now, now).catch(() => {
      // Gone or not writable: `isHeld` tells the commit.
    });
  }
}

/** Creates `file` with `O_EXCL`; false if it exists. */
async function createExclusive(file: string, contents: string): Promise<boolean> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, "wx", 0o600);
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(contents);
  } catch (error) {
    await handle.close().catch(() => {});
    await fsp.unlink(file).catch(() => {});
    throw error;
  }
  await handle.close();
  return true;
}

async function readLockInfo(file: string): Promise<LockInfo | undefined> {
  let text: string;
  try {
    const handle = await fsp.open(file, "r");
    try {
      const buffer = Buffer.alloc(MAX_LOCK_FILE_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString("utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
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
export async function inspect(file: string): Promise<Holder | undefined> {
  try {
    const stats = await fsp.stat(file, { bigint: true });
    const info = await readLockInfo(file);
    return {
      info,
      dev: stats.dev,
      ino: stats.ino,
      mtimeNs: stats.mtimeNs,
      mtimeMs: Number(stats.mtimeMs),
    };
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
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
  if (info === undefined) return age > Math.min(staleMs, UNREADABLE_LOCK_GRACE_MS);
  if (info.host === hostname()) {
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
export async function takeOver(file: string, holder: Holder): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    await fsp.rename(file, aside);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return; // someone else removed it: try again
    throw error;
  }
  const moved = await fsp.stat(aside, { bigint: true });
  if (moved.dev === holder.dev && moved.ino === holder.ino && moved.mtimeNs === holder.mtimeNs) {
    await fsp.unlink(aside);
    return;
  }
  // We moved a lock created or refreshed after we looked: put it back without overwriting.
  try {
    await fsp.link(aside, file);
    await fsp.unlink(aside);
  } catch (error) {
    if (errorCode(error) !== "EEXIST") await fsp.rename(aside, file).catch(() => {});
    else await fsp.unlink(aside).catch(() => {});
  }
  throw new MaildropInUseError();
}
