import type { Stats } from "node:fs";
import { close, constants, fstat, lstat, open, read } from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { OctetSizeCounter } from "pop3-core";
import { BackendError, InvalidUserError, MaildropInUseError } from "../errors";
import {
  closedMaildropError,
  errorCode,
  isDiskFull,
  MAX_READ_CHUNK,
  OPEN_UNTRUSTED,
  UnsafeMaildropError,
} from "./common";
import { MaildirLock } from "./maildir-lock";
import {
  assertSafeUserName,
  compareMaildirBases,
  dovecotVirtualSize,
  maildirUid,
  splitMaildirName,
} from "./maildir-names";
import { SizeCache } from "./maildir-size-cache";
import type { Maildrop, MailStore, MessageInfo } from "./types";

/** Counts deliveries in this process, for unique Maildir names. */
let deliveries = 0;

/** The lock file's name, in the Maildir's top directory. */
export const MAILDIR_LOCK_FILE = "pop3.lock";
/** Default `lockStaleMs`: 30 minutes. */
export const DEFAULT_LOCK_STALE_MS = 30 * 60 * 1000;
/** How many files are read at once to compute sizes the cache does not have. */
const SIZE_CONCURRENCY = 4;
/** How many files are stat'ed at once to check the size cache (cheap, and a hundred a session). */
const STAT_CONCURRENCY = 16;
/**
 * Reads after a message's first chunk ask for this much: a large message then costs a quarter of
 * the thread-pool round trips. It is still handed out in chunks of at most `MAX_READ_CHUNK`.
 */
const LARGE_READ = 4 * MAX_READ_CHUNK;
/** How long a message read ahead (see `MaildirMaildrop`) is kept for the RETR it expects. */
const READ_AHEAD_MS = 1000;
/** A Maildir's subdirectories. */
const SUBDIRS = ["cur", "new", "tmp"] as const;

export interface MaildirStoreOptions {
  /** The mail root. Every user's Maildir must resolve inside it. */
  readonly root: string;
  /**
   * The path of `user`'s Maildir; a relative path is taken from `root`. It must resolve inside
   * `root` (not to `root` itself), or the user is refused with `InvalidUserError`. Default:
   * `<root>/<user>/Maildir`. The user name has already passed the safety checks when it is called.
   */
  readonly layout?: (user: string) => string;
  /**
   * Create a missing Maildir (with `cur/`, `new/` and `tmp/`) on first open. Default `true`.
   * When `false`, opening a user without a Maildir rejects with `BackendError`.
   */
  readonly createMissing?: boolean;
  /**
   * A lock whose file was not refreshed for this long is stale and may be taken over. The
   * holder refreshes it every third of this. Default 30 minutes.
   */
  readonly lockStaleMs?: number;
}

interface Entry {
  readonly uid: string;
  readonly size: number;
  readonly base: string;
  /** The file name in `cur/` when last seen (flags may change it). */
  name: string;
}

/**
 * A `MailStore` on Maildirs, safe to share with an MTA and Dovecot.
 *
 * Opening a maildrop takes the lock file `pop3.lock` (see `MaildirLock`), moves every message of
 * `new/` to `cur/` with the `:2,` info, and fixes the snapshot: the messages of `cur/` in delivery
 * order (see `compareMaildirBases`). Files whose name starts with `.`, and anything that is not a
 * regular file (directories, symlinks), are ignored; `tmp/` is never touched. Mail delivered
 * during the session appears in the next one.
 *
 * - The uid is the base name (before `:`) when it is a valid uid, else its MD5 in hex
 *   (`maildirUid`): stable across flag renames and restarts.
 * - The size is Dovecot's `,W=` from the base name when present (the file is not read), else it
 *   is computed by streaming the file through `OctetSizeCounter` and cached in `pop3-sizes.json`
 *   keyed by base name, mtime and physical size.
 * - `commit` unlinks the files (found again by base name if their flags changed; already gone is
 *   fine) and fsyncs `cur/` before it resolves; then the lock is released.
 *
 * Symbolic links never lead out of a Maildir. Every directory below the root down to `cur/`,
 * `new/` and `tmp/` must be a real directory: a link there could lead into another user's
 * Maildir or out of the root, so the login is refused with `UnsafeMaildropError` (the root
 * itself may be a link: it is the operator's). This is checked at login and again before
 * `commit` unlinks anything. Messages are opened with `O_NOFOLLOW` and must be regular files
 * (`fstat`), so a message replaced by a link after the login is not read. A message name
 * replaced by a link is unlinked as a name: the link goes, never its target.
 */
export class MaildirStore implements MailStore {
  readonly root: string;
  readonly #layout: ((user: string) => string) | undefined;
  readonly #createMissing: boolean;
  readonly #lockStaleMs: number;

  constructor(options: MaildirStoreOptions) {
    if (typeof options.root !== "string" || options.root.length === 0) {
      throw new TypeError("MaildirStore: root must be a non-empty path");
    }
    const staleMs = options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS;
    if (!Number.isFinite(staleMs) || staleMs <= 0) {
      throw new RangeError("MaildirStore: lockStaleMs must be a positive number");
    }
    this.root = resolve(options.root);
    this.#layout = options.layout;
    this.#createMissing = options.createMissing ?? true;
    this.#lockStaleMs = staleMs;
  }

  /**
   * The absolute path of `user`'s Maildir. Throws `InvalidUserError` for a name that could
   * escape the root (see `assertSafeUserName`) or a layout that resolves outside it.
   */
  maildirPath(user: string): string {
    assertSafeUserName(user);
    let chosen: string;
    try {
      chosen = this.#layout === undefined ? join(user, "Maildir") : this.#layout(user);
    } catch (error) {
      if (error instanceof InvalidUserError) throw error;
      throw new BackendError("POP3_STORE", "the Maildir layout failed", { cause: error });
    }
    const dir = resolve(this.root, chosen);
    const rel = relative(this.root, dir);
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new InvalidUserError("the user's maildrop would be outside the mail root");
    }
    return dir;
  }

  async openMaildrop(user: string, signal?: AbortSignal): Promise<Maildrop> {
    signal?.throwIfAborted();
    const dir = this.maildirPath(user);
    let lock: MaildirLock;
    try {
      await this.#prepare(dir, false);
      lock = await MaildirLock.acquire(join(dir, MAILDIR_LOCK_FILE), this.#lockStaleMs);
    } catch (error) {
      throw asBackendError(error, "the maildrop could not be opened");
    }
    try {
      signal?.throwIfAborted();
      const entries = await scan(dir, signal);
      signal?.throwIfAborted();
      return new MaildirMaildrop(this.root, dir, entries, lock);
    } catch (error) {
      await lock.release();
      if (signal?.aborted) throw signal.reason;
      throw asBackendError(error, "the maildrop could not be read");
    }
  }

  /**
   * Delivers a message into `user`'s Maildir the way an MTA does: write to `tmp/`, fsync, rename
   * into `new/`, fsync `new/`. The message is stored as given (any line ends). Sessions open now
   * see it from their next login. Returns the file's path. If it fails before the rename (a full
   * disk), nothing is left in `tmp/`; once renamed the message is delivered, even if the fsync of
   * `new/` then fails (that is reported, and a retry may deliver it twice, as with any MTA).
   */
  async deliver(user: string, message: Uint8Array | string): Promise<string> {
    const dir = this.maildirPath(user);
    await this.#prepare(dir, true);
    deliveries += 1;
    const now = Date.now();
    const unique = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${deliveries}.${hostname().replace(/[/:]/g, "_")}`;
    const temporary = join(dir, "tmp", unique);
    const target = join(dir, "new", unique);
    const handle = await fsp.open(temporary, "wx", 0o600);
    try {
      try {
        await handle.writeFile(message);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temporary, target);
    } catch (error) {
      // A partial file would stay in tmp/ for ever (no MDA cleans up after another one).
      await fsp.unlink(temporary).catch(() => {});
      throw error;
    }
    await syncDirectory(join(dir, "new"));
    return target;
  }

  /**
   * Checks the directories down to `dir`'s `cur/`, `new/` and `tmp/` (see the class comment),
   * creating missing ones when `createMissing` is on. Otherwise a missing one means no Maildir,
   * except `tmp/` when `needTmp` is false (only deliveries write there).
   */
  async #prepare(dir: string, needTmp: boolean): Promise<void> {
    const tmp = join(dir, "tmp");
    for (const { path, stats } of await lstatTree(this.root, dir, SUBDIRS)) {
      if (stats?.isDirectory()) continue;
      if (stats !== undefined) throw notADirectory(this.root, path);
      if (this.#createMissing) {
        await fsp.mkdir(this.root, { recursive: true });
        await makeDirectory(this.root, path);
      } else if (needTmp || path !== tmp) {
        throw new BackendError("POP3_STORE", "the user has no Maildir (createMissing is off)");
      }
    }
  }
}

/**
 * Every directory from the first below `root` down to `dir`, then `dir`'s `subs`, with its
 * `lstat` (undefined if missing), looked at all at once. Throws `UnsafeMaildropError` if one of
 * them is a symbolic link.
 */
async function lstatTree(
  root: string,
  dir: string,
  subs: readonly string[],
): Promise<{ readonly path: string; readonly stats: Stats | undefined }[]> {
  const paths: string[] = [];
  let path = root;
  for (const part of relative(root, dir).split(sep)) {
    path = join(path, part);
    paths.push(path);
  }
  for (const sub of subs) paths.push(join(dir, sub));
  const tree = await Promise.all(
    paths.map(async (p) => ({ path: p, stats: await lstatIfPresent(p) })),
  );
  const link = tree.find(({ stats }) => stats?.isSymbolicLink());
  if (link !== undefined) {
    throw new UnsafeMaildropError(`${relative(root, link.path)} is a symbolic link`);
  }
  return tree;
}

/** Makes the directory `path`, whose parent exists; one made meanwhile must be a real one. */
async function makeDirectory(root: string, path: string): Promise<void> {
  try {
    await fsp.mkdir(path, { mode: 0o700 });
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
    const stats = await fsp.lstat(path);
    if (stats.isSymbolicLink()) {
      throw new UnsafeMaildropError(`${relative(root, path)} is a symbolic link`);
    }
    if (!stats.isDirectory()) throw notADirectory(root, path);
  }
}

function notADirectory(root: string, path: string): BackendError {
  return new BackendError("POP3_STORE", `${relative(root, path)} is not a directory`);
}

async function lstatIfPresent(path: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(path);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function asBackendError(error: unknown, message: string): Error {
  if (
    error instanceof BackendError ||
    error instanceof MaildropInUseError ||
    error instanceof InvalidUserError ||
    error instanceof UnsafeMaildropError
  ) {
    return error;
  }
  return new BackendError("POP3_STORE", message, { cause: error });
}

/** The names of the regular files in `dir` that do not start with `.`. */
async function listMessageFiles(dir: string): Promise<string[]> {
  const dirents = await fsp.readdir(dir, { withFileTypes: true });
  return dirents.filter((d) => d.isFile() && !d.name.startsWith(".")).map((d) => d.name);
}

/** Moves `new/` into `cur/` and returns the snapshot, in delivery order, with sizes. */
async function scan(dir: string, signal: AbortSignal | undefined): Promise<Entry[]> {
  const newDir = join(dir, "new");
  const curDir = join(dir, "cur");
  const curNames = await listMessageFiles(curDir);
  const curBases = new Set(curNames.map((name) => splitMaildirName(name).base));
  for (const name of await listMessageFiles(newDir)) {
    const { base, flags } = splitMaildirName(name);
    // Same base already in cur/: not unique, so not ours to rename over. Leave it in new/.
    if (curBases.has(base)) continue;
    const target = `${base}:2,${flags}`;
    try {
      await fsp.rename(join(newDir, name), join(curDir, target));
    } catch (error) {
      if (errorCode(error) === "ENOENT") continue; // another MUA took it
      // cur/ could not grow on a full disk: the message stays in new/ until there is room, and
      // the user can still log in to delete mail.
      if (isDiskFull(error)) continue;
      throw error;
    }
    curNames.push(target);
    curBases.add(base);
  }

  const candidates = curNames
    .map((name) => ({ name, base: splitMaildirName(name).base }))
    .sort((a, b) => compareMaildirBases(a.base, b.base) || (a.name < b.name ? -1 : 1));
  const seenUids = new Set<string>();
  const unique: { name: string; base: string; uid: string }[] = [];
  for (const candidate of candidates) {
    const uid = maildirUid(candidate.base);
    if (seenUids.has(uid)) continue; // a copy of a message under another flag set
    seenUids.add(uid);
    unique.push({ ...candidate, uid });
  }

  const cache = await SizeCache.load(dir);
  const sizes: (number | undefined)[] = new Array(unique.length);
  const toCompute: number[] = [];
  for (let i = 0; i < unique.length; i++) {
    const item = unique[i]!;
    const virtual = dovecotVirtualSize(item.base);
    if (virtual !== undefined) sizes[i] = virtual;
    else toCompute.push(i);
  }
  // Every file is stat'ed to check its cache entry, many at a time; only the files the cache does
  // not know are read, a few at a time.
  const misses: { i: number; stats: FileStats }[] = [];
  await eachLimit(toCompute, STAT_CONCURRENCY, signal, async (i) => {
    const item = unique[i]!;
    const stats = await regularFileStats(join(curDir, item.name));
    if (stats === undefined) return; // vanished (or replaced by a link) while we looked
    const cached = cache.lookup(item.base, stats.mtimeMs, stats.size);
    if (cached !== undefined) sizes[i] = cached;
    else misses.push({ i, stats });
  });
  await eachLimit(misses, SIZE_CONCURRENCY, signal, async ({ i, stats }) => {
    const item = unique[i]!;
    sizes[i] = await measure(join(curDir, item.name), item.base, stats, cache, signal);
  });
  await cache.save(); // writes only if an entry was added or dropped

  const entries: Entry[] = [];
  for (let i = 0; i < unique.length; i++) {
    const item = unique[i]!;
    const size = sizes[i];
    if (size === undefined) continue; // vanished while we looked
    entries.push({ uid: item.uid, size, base: item.base, name: item.name });
  }
  return entries;
}

/** Runs `fn` on every item, at most `limit` at a time; stops early if `signal` aborts. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal?.throwIfAborted();
      await fn(items[next++] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** `lstat` of a message file; undefined if it is gone or no longer a regular file. */
function regularFileStats(file: string): Promise<FileStats | undefined> {
  return new Promise((resolve, reject) => {
    lstat(file, (error, stats) => {
      if (error === null) resolve(stats.isFile() ? stats : undefined);
      else if (errorCode(error) === "ENOENT") resolve(undefined);
      else reject(error);
    });
  });
}

/**
 * The RFC size of one file (`stats`: its lstat before), by reading it; undefined if it vanished
 * or is no longer a regular file.
 */
async function measure(
  file: string,
  base: string,
  stats: FileStats,
  cache: SizeCache,
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, OPEN_UNTRUSTED);
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT" || code === "ELOOP") return undefined;
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const counter = new OctetSizeCounter();
    const buffer = Buffer.allocUnsafe(MAX_READ_CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      counter.push(buffer.subarray(0, bytesRead));
    }
    const size = counter.end();
    const after = await handle.stat();
    // Only cache what was measured from an unchanged file.
    if (after.mtimeMs === stats.mtimeMs && after.size === stats.size) {
      cache.store(base, { mtimeMs: stats.mtimeMs, bytes: stats.size, size });
    }
    return size;
  } finally {
    await handle.close();
  }
}

type State = "open" | "closed";

/**
 * One session's maildrop.
 *
 * Read-ahead: clients fetch messages in order, one command at a time, so once a message has been
 * read to its end the next one, if it is small (under 64 KiB, so one read), is read from disk while
 * the client receives this one and sends its next RETR. Each file read costs two round trips to
 * libuv's thread pool (open, read), slower than the client's round trip on a fast network; read
 * ahead, they overlap it. The copy is used only by a read of exactly that message and is dropped
 * after `READ_AHEAD_MS`, on release and on commit, so a session holds at most one small message
 * for at most a second, and never a file descriptor (the file is closed once read). A read ahead
 * that fails is forgotten: the read then opens the file itself and reports what goes wrong.
 */
class MaildirMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #root: string;
  readonly #dir: string;
  readonly #curDir: string;
  readonly #entries: readonly Entry[];
  readonly #lock: MaildirLock;
  #state: State = "open";
  /** The message read ahead: its index and its bytes (undefined if that read failed). */
  #ahead: { readonly index: number; readonly bytes: Promise<Buffer | undefined> } | undefined;
  /** Drops `#ahead` when nobody asked for it in time; created once, refreshed per read-ahead. */
  #aheadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(root: string, dir: string, entries: readonly Entry[], lock: MaildirLock) {
    this.#root = root;
    this.#dir = dir;
    this.#curDir = join(dir, "cur");
    this.#entries = entries;
    this.#lock = lock;
    this.messages = Object.freeze(entries.map((e) => Object.freeze({ uid: e.uid, size: e.size })));
  }

  /**
   * Streams the file in chunks of at most 64 KiB. Errors surface on iteration: a closed
   * maildrop, a vanished file or one that is no longer a regular file (a link, a FIFO) is a
   * `BackendError`, a bad index a `RangeError`, an abort the signal's reason. Breaking out of the
   * loop closes the file.
   */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#read(index, signal);
  }

  async *#read(index: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    if (this.#state !== "open") throw closedMaildropError();
    const entry = this.#entries[index];
    if (entry === undefined) throw new RangeError(`no message at index ${index}`);
    signal?.throwIfAborted();
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead?.index === index) {
      const bytes = await ahead.bytes;
      if (bytes !== undefined) {
        signal?.throwIfAborted();
        if (bytes.length > 0) yield bytes;
        this.#readAhead(index + 1);
        return;
      }
    }
    // Plain reads on a file descriptor, not a ReadStream on a FileHandle: for the small files
    // most mail is, a stream and a FileHandle cost several times the read itself (stream setup,
    // a 64 KiB buffer per read, one more read to see the end, a handle object and its close
    // promise), and a session reads a hundred of them.
    const fd = await this.#openEntry(entry, index);
    // Checked alongside the first read (no extra round trip); nothing is yielded before.
    const regular = isRegularFile(fd);
    const readChunk = (length: number): Promise<Buffer> => {
      // A fresh buffer per chunk: the caller may still hold (be writing) the previous one.
      const buffer = Buffer.allocUnsafe(length);
      const reading = readInto(fd, buffer).then((bytesRead) => buffer.subarray(0, bytesRead));
      // It may fail while we wait at `yield`: handled here, thrown where it is awaited.
      reading.catch(() => {});
      return reading;
    };
    let closing: Promise<void> | undefined;
    const closeOnce = (): Promise<void> => {
      closing ??= closeFile(fd);
      return closing;
    };
    // The first read asks for the RFC size + 1: a stored file is never larger than its RFC size
    // (that only adds CRs and a final CRLF), so a small message comes in one read whose short
    // count already tells the end of the file. Further reads are `LARGE_READ`s, each started
    // while the caller sends the one before.
    let wanted = Math.min(MAX_READ_CHUNK, entry.size + 1);
    let next: Promise<Buffer> | undefined = readChunk(wanted);
    try {
      if (!(await regular)) {
        throw new BackendError("POP3_STORE", `message ${index + 1} is not a regular file`);
      }
      while (next !== undefined) {
        const chunk: Buffer = await next;
        next = undefined;
        signal?.throwIfAborted();
        if (chunk.length === 0) break;
        if (chunk.length === wanted) {
          wanted = LARGE_READ;
          next = readChunk(wanted);
        } else {
          // A short read of a regular file is its end: close it while this chunk is sent.
          void closeOnce();
        }
        for (let at = 0; at < chunk.length; at += MAX_READ_CHUNK) {
          yield chunk.subarray(at, at + MAX_READ_CHUNK);
        }
      }
      this.#readAhead(index + 1);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof BackendError) throw error;
      throw new BackendError("POP3_STORE", `message ${index + 1} could not be read`, {
        cause: error,
      });
    } finally {
      // A read ahead that nobody will take must finish before the file is closed.
      await next?.catch(() => {});
      await closeOnce();
    }
  }

  /** Starts reading message `index` ahead if it exists and is small (see the class comment). */
  #readAhead(index: number): void {
    const entry = this.#entries[index];
    if (this.#state !== "open" || entry === undefined || entry.size >= MAX_READ_CHUNK) return;
    this.#ahead = { index, bytes: readWholeSmallFile(join(this.#curDir, entry.name), entry.size) };
    if (this.#aheadTimer === undefined) {
      this.#aheadTimer = setTimeout(() => {
        this.#ahead = undefined;
      }, READ_AHEAD_MS);
      this.#aheadTimer.unref();
    } else {
      this.#aheadTimer.refresh();
    }
  }

  #dropReadAhead(): void {
    this.#ahead = undefined;
    clearTimeout(this.#aheadTimer);
  }

  /** Opens the message's file (found again by base name if its flags changed); returns the fd. */
  async #openEntry(entry: Entry, index: number): Promise<number> {
    try {
      try {
        return await openFile(join(this.#curDir, entry.name));
      } catch (error) {
        if (errorCode(error) !== "ENOENT") throw error;
      }
      // Another MUA may have changed the flags, and so the name.
      const renamed = (await this.#findByBase(entry.base))[0];
      if (renamed !== undefined) {
        entry.name = renamed;
        return await openFile(join(this.#curDir, renamed));
      }
    } catch (error) {
      throw new BackendError("POP3_STORE", `message ${index + 1} could not be opened`, {
        cause: error,
      });
    }
    throw new BackendError("POP3_STORE", `message ${index + 1} is gone from the Maildir`);
  }

  async #findByBase(base: string): Promise<string[]> {
    const names = await listMessageFiles(this.#curDir);
    return names.filter((name) => splitMaildirName(name).base === base);
  }

  /**
   * Unlinks the messages, fsyncs `cur/`, then releases the lock (also on failure). Refuses to
   * delete anything if the lock file is no longer ours.
   */
  async commit(deletedUids: readonly string[]): Promise<void> {
    if (this.#state !== "open") throw closedMaildropError();
    this.#state = "closed";
    this.#dropReadAhead();
    try {
      await this.#commit(deletedUids);
    } catch (error) {
      throw asBackendError(error, "the deletions could not be committed");
    } finally {
      await this.#lock.release();
    }
  }

  async #commit(deletedUids: readonly string[]): Promise<void> {
    const wanted = new Set(deletedUids);
    const doomed = this.#entries.filter((e) => wanted.has(e.uid));
    if (doomed.length === 0) return;
    if (!(await this.#lock.isHeld())) {
      throw new BackendError("POP3_STORE", "the maildrop lock was lost; nothing was deleted");
    }
    // Checked again: were cur/ (or a directory above it) replaced by a link since the login,
    // the unlinks below would delete in its target. Unlinking a message name that became a link
    // removes the link itself, never its target.
    await lstatTree(this.#root, this.#dir, ["cur"]);
    const failures: unknown[] = [];
    let current: Map<string, string[]> | undefined;
    for (const entry of doomed) {
      try {
        if (await unlinkIfPresent(join(this.#curDir, entry.name))) continue;
        // Renamed by a flag change since the snapshot: find it by base name.
        current ??= await this.#namesByBase();
        for (const name of current.get(entry.base) ?? []) {
          await unlinkIfPresent(join(this.#curDir, name));
        }
      } catch (error) {
        failures.push(error);
      }
    }
    await syncDirectory(this.#curDir);
    if (failures.length > 0) {
      throw new BackendError(
        "POP3_STORE",
        `${failures.length} of ${doomed.length} deleted messages could not be removed`,
        { cause: failures.length === 1 ? failures[0] : new AggregateError(failures) },
      );
    }
  }

  async #namesByBase(): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    for (const name of await listMessageFiles(this.#curDir)) {
      const { base } = splitMaildirName(name);
      const list = map.get(base);
      if (list === undefined) map.set(base, [name]);
      else list.push(name);
    }
    return map;
  }

  async release(): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "closed";
    this.#dropReadAhead();
    await this.#lock.release();
  }
}

// fs's callback API behind small promises, for the per-message hot path: a third of the CPU of
// fs/promises' FileHandle per file, which is measurable at a hundred messages per session.

/** Opens a message file without following a link (see `OPEN_UNTRUSTED`). */
function openFile(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, OPEN_UNTRUSTED, (error, fd) => (error ? reject(error) : resolve(fd)));
  });
}

/** Whether `fd` is a regular file; never rejects (an error counts as no). */
function isRegularFile(fd: number): Promise<boolean> {
  return new Promise((resolve) => {
    fstat(fd, (error, stats) => resolve(error === null && stats.isFile()));
  });
}

/** Reads up to `buffer.length` octets from the current position; resolves with the count. */
function readInto(fd: number, buffer: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, buffer.length, null, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    );
  });
}

/** Closes a descriptor opened for reading; never rejects (there is nothing to lose). */
function closeFile(fd: number): Promise<void> {
  return new Promise((resolve) => {
    close(fd, () => resolve());
  });
}

interface FileStats {
  readonly mtimeMs: number;
  readonly size: number;
}

/**
 * The whole file at `path` if it has at most `maxSize` octets (one read of `maxSize + 1` that
 * comes back short), else undefined; undefined on any error too. Never rejects; always closes.
 */
async function readWholeSmallFile(path: string, maxSize: number): Promise<Buffer | undefined> {
  let fd: number;
  try {
    fd = await openFile(path);
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.allocUnsafe(maxSize + 1);
    const [regular, bytesRead] = await Promise.all([
      isRegularFile(fd),
      readInto(fd, buffer).catch(() => -1),
    ]);
    if (!regular || bytesRead < 0 || bytesRead > maxSize) return undefined;
    return buffer.subarray(0, bytesRead);
  } catch {
    return undefined;
  } finally {
    void closeFile(fd);
  }
}

/** Unlinks `file`; false if it was not there. */
async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    await fsp.unlink(file);
    return true;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return false;
    throw error;
  }
}

/** Opens a directory to fsync it, not through a link. */
const OPEN_DIRECTORY =
  constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | (constants.O_NOFOLLOW ?? 0);

/** fsyncs a directory so the unlinks in it are durable. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(dir, OPEN_DIRECTORY);
  } catch (error) {
    // Windows cannot open a directory; its unlinks are as durable as they get.
    if (process.platform === "win32" && errorCode(error) === "EISDIR") return;
    throw error;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
