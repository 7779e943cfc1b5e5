import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { join, sep } from "node:path";
import { BackendError, InvalidUserError, MaildropInUseError } from "../errors";
import {
  closedMaildropError,
  errorCode,
  MAX_READ_CHUNK,
  OPEN_UNTRUSTED,
  UnsafeMaildropError,
} from "./common";
import type { Entry, Listing, MaildropIndex } from "./maildir-index";
import { closeQuietly, listMessageFiles, type MaildirIo } from "./maildir-io";
import type { MaildirLock } from "./maildir-lock";
import { splitMaildirName } from "./maildir-names";
import type { Maildrop, MessageInfo } from "./types";

/**
 * Reads after a large message's first chunk ask for this much: a quarter of the calls. It is
 * still handed out in chunks of at most `MAX_READ_CHUNK`.
 */
const LARGE_READ = 4 * MAX_READ_CHUNK;
/** How long a message read ahead (see `MaildirMaildrop`) is kept for the RETR it expects. */
const READ_AHEAD_MS = 1000;

/** What the store gives a maildrop. */
export interface MaildropParts {
  readonly io: MaildirIo;
  readonly dir: string;
  readonly listing: Listing;
  readonly index: MaildropIndex;
  readonly lock: MaildirLock;
  /** Checks the directories down to `cur/` again (see `MaildirStore`); throws if one is a link. */
  readonly checkTree: () => Promise<void>;
}

/**
 * One session's maildrop.
 *
 * A message under 64 KiB is read whole: open, one read of its size + 1 octets (a stored file is
 * never longer than its RFC size: that only adds CRs and a final CRLF, so a short read tells the
 * end), close. A larger one is `fstat`ed and streamed in chunks. The length read (or the length
 * and mtime from `fstat`) is checked against those its size was measured at: a file changed in
 * place (Maildir forbids it, a user with a shell can do it) makes the index forget its size, so
 * that the next login measures it again. This session announced the old size: the server drops a
 * RETR whose octets differ from it rather than end it as if it were whole.
 *
 * Read-ahead (only without `syncIo`): clients fetch messages in order, one command at a time, so
 * once a message has been read the next one, if small, is read while the client receives this
 * one and sends its next RETR: each read costs trips to libuv's thread pool, slower than the
 * client's round trip on a fast network. The copy is used only by a read of exactly that message
 * and is dropped after `READ_AHEAD_MS`, on release and on commit, so a session holds at most one
 * small message for at most a second, and never a file descriptor. A read ahead that fails is
 * forgotten: the read then opens the file itself and reports what goes wrong. With `syncIo` a
 * small file costs microseconds and there is nothing to overlap.
 */
export class MaildirMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #io: MaildirIo;
  readonly #curDir: string;
  readonly #entries: readonly Entry[];
  readonly #index: MaildropIndex;
  readonly #lock: MaildirLock;
  readonly #checkTree: () => Promise<void>;
  /** Messages found under another name since the listing (another MUA changed their flags). */
  readonly #renamed = new Map<number, string>();
  #open = true;
  /** The message read ahead: its index and its contents (undefined if that read failed). */
  #ahead: { readonly index: number; readonly file: Promise<Buffer | undefined> } | undefined;
  /** Drops `#ahead` when nobody asked for it in time; created once, refreshed per read-ahead. */
  #aheadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(parts: MaildropParts) {
    this.#io = parts.io;
    this.#curDir = join(parts.dir, "cur");
    this.#entries = parts.listing.entries;
    this.messages = parts.listing.messages;
    this.#index = parts.index;
    this.#lock = parts.lock;
    this.#checkTree = parts.checkTree;
  }

  /**
   * Yields the file in chunks of at most 64 KiB. Errors surface on iteration: a closed
   * maildrop, a vanished file or one that is no longer a regular file (a link, a FIFO) is a
   * `BackendError`, a bad index a `RangeError`, an abort the signal's reason. Breaking out of the
   * loop closes the file.
   */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#read(index, signal);
  }

  async *#read(index: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    if (!this.#open) throw closedMaildropError();
    const entry = this.#entries[index];
    if (entry === undefined) throw new RangeError(`no message at index ${index}`);
    signal?.throwIfAborted();
    if (entry.size < MAX_READ_CHUNK) {
      // With syncIo, straight calls: no promise per call (a hundred messages a session).
      const bytes =
        (this.#io.sync ? this.#readSmallNow(entry, index) : undefined) ??
        (await this.#readSmall(entry, index));
      signal?.throwIfAborted();
      // Not the length its size was measured at: changed in place (see the class comment).
      if (entry.bytes !== undefined && bytes.length !== entry.bytes) this.#index.forget(entry.base);
      if (bytes.length > 0) yield bytes;
      if (!this.#io.sync) this.#readAhead(index + 1);
      return;
    }
    yield* this.#readLarge(entry, index, signal);
  }

  /**
   * A small message whole with synchronous calls (`syncIo`); undefined if its file is not under
   * its listed name (`#readSmall` then looks for it under another).
   */
  #readSmallNow(entry: Entry, index: number): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(
        `${this.#curDir}${sep}${this.#renamed.get(index) ?? entry.name}`,
        OPEN_UNTRUSTED,
      );
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw new BackendError("POP3_STORE", `message ${index + 1} could not be opened`, {
        cause: error,
      });
    }
    try {
      // As readWhole: one read of up to size + 1 octets is normally all.
      const buffer = Buffer.allocUnsafe(entry.size + 1);
      let length = 0;
      while (length < buffer.length) {
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
        if (length >= (entry.bytes ?? 0)) break;
      }
      if (length === 0 && entry.size > 0 && !fstatSync(fd).isFile()) {
        throw new BackendError("POP3_STORE", `message ${index + 1} is not a regular file`);
      }
      return buffer.subarray(0, length);
    } catch (error) {
      throw asReadError(error, index);
    } finally {
      try {
        closeSync(fd);
      } catch {
        // It was only read: nothing to lose.
      }
    }
  }

  /** A small message whole: the one read ahead if it is this one, else read now. */
  async #readSmall(entry: Entry, index: number): Promise<Buffer> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead?.index === index) {
      const file = await ahead.file;
      if (file !== undefined) return file;
    }
    const fd = await this.#openEntry(entry, index);
    try {
      return await readWhole(this.#io, fd, entry, index);
    } catch (error) {
      throw asReadError(error, index);
    } finally {
      await closeQuietly(this.#io, fd);
    }
  }

  /**
   * A large message in chunks. The first read asks for at most `MAX_READ_CHUNK`, the next ones
   * for `LARGE_READ`, each started while the caller sends the one before.
   */
  async *#readLarge(
    entry: Entry,
    index: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    const io = this.#io;
    const fd = await this.#openEntry(entry, index);
    const readChunk = (length: number): Promise<Buffer> => {
      // A fresh buffer per chunk: the caller may still hold (be writing) the previous one.
      const buffer = Buffer.allocUnsafe(length);
      const reading = io.read(fd, buffer, null).then((n) => buffer.subarray(0, n));
      // It may fail while we wait at `yield`: handled here, thrown where it is awaited.
      reading.catch(() => {});
      return reading;
    };
    let next: Promise<Buffer> | undefined;
    try {
      const stats = await io.fstat(fd);
      if (!stats.isFile()) {
        throw new BackendError("POP3_STORE", `message ${index + 1} is not a regular file`);
      }
      this.#check(entry, stats);
      let wanted = MAX_READ_CHUNK;
      next = readChunk(wanted);
      while (next !== undefined) {
        const chunk: Buffer = await next;
        next = undefined;
        signal?.throwIfAborted();
        if (chunk.length === 0) break;
        // A short read of a regular file is its end.
        if (chunk.length === wanted) {
          wanted = LARGE_READ;
          next = readChunk(wanted);
        }
        for (let at = 0; at < chunk.length; at += MAX_READ_CHUNK) {
          yield chunk.subarray(at, at + MAX_READ_CHUNK);
        }
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw asReadError(error, index);
    } finally {
      // A read ahead that nobody will take must finish before the file is closed.
      await next?.catch(() => {});
      await closeQuietly(io, fd);
    }
  }

  /**
   * The file no longer has the length or mtime its size was measured at: the index forgets the
   * size (and the listing), so that the next login measures it again.
   */
  #check(entry: Entry, stats: Stats): void {
    const lengthDiffers = entry.bytes !== undefined && stats.size !== entry.bytes;
    const timeDiffers = entry.mtimeMs !== undefined && stats.mtimeMs !== entry.mtimeMs;
    if (lengthDiffers || timeDiffers) this.#index.forget(entry.base);
  }

  /** Starts reading message `index` ahead if it exists and is small (see the class comment). */
  #readAhead(index: number): void {
    const entry = this.#entries[index];
    if (!this.#open || entry === undefined || entry.size >= MAX_READ_CHUNK) return;
    const io = this.#io;
    const path = join(this.#curDir, this.#renamed.get(index) ?? entry.name);
    const file = io.open(path, OPEN_UNTRUSTED).then(
      (fd) =>
        readWhole(io, fd, entry, index)
          .catch(() => undefined)
          .finally(() => closeQuietly(io, fd)),
      () => undefined,
    );
    this.#ahead = { index, file };
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
    const io = this.#io;
    try {
      try {
        return await io.open(
          join(this.#curDir, this.#renamed.get(index) ?? entry.name),
          OPEN_UNTRUSTED,
        );
      } catch (error) {
        if (errorCode(error) !== "ENOENT") throw error;
      }
      // Another MUA may have changed the flags, and so the name.
      const renamed = (await this.#findByBase(entry.base))[0];
      if (renamed !== undefined) {
        this.#renamed.set(index, renamed);
        return await io.open(join(this.#curDir, renamed), OPEN_UNTRUSTED);
      }
    } catch (error) {
      throw new BackendError("POP3_STORE", `message ${index + 1} could not be opened`, {
        cause: error,
      });
    }
    throw new BackendError("POP3_STORE", `message ${index + 1} is gone from the Maildir`);
  }

  async #findByBase(base: string): Promise<string[]> {
    const names = await listMessageFiles(this.#io, this.#curDir);
    return names.filter((name) => splitMaildirName(name).base === base);
  }

  /**
   * Unlinks the messages, fsyncs `cur/`, then releases the lock (also on failure). Refuses to
   * delete anything if the lock file is no longer ours.
   */
  async commit(deletedUids: readonly string[]): Promise<void> {
    if (!this.#open) throw closedMaildropError();
    this.#open = false;
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
    const doomed: [number, Entry][] = [];
    this.#entries.forEach((e, i) => {
      if (wanted.has(e.uid)) doomed.push([i, e]);
    });
    if (doomed.length === 0) return;
    if (!(await this.#lock.isHeld())) {
      throw new BackendError("POP3_STORE", "the maildrop lock was lost; nothing was deleted");
    }
    // Checked again: were cur/ (or a directory above it) replaced by a link since the login,
    // the unlinks below would delete in its target. Unlinking a message name that became a link
    // removes the link itself, never its target.
    await this.#checkTree();
    const io = this.#io;
    const failures: unknown[] = [];
    let current: Map<string, string[]> | undefined;
    for (const [index, entry] of doomed) {
      try {
        const name = this.#renamed.get(index) ?? entry.name;
        if (await unlinkIfPresent(io, join(this.#curDir, name))) continue;
        // Renamed by a flag change since the snapshot: find it by base name.
        current ??= await this.#namesByBase();
        for (const other of current.get(entry.base) ?? []) {
          await unlinkIfPresent(io, join(this.#curDir, other));
        }
      } catch (error) {
        failures.push(error);
      }
    }
    await syncDirectory(io, this.#curDir);
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
    for (const name of await listMessageFiles(this.#io, this.#curDir)) {
      const { base } = splitMaildirName(name);
      const list = map.get(base);
      if (list === undefined) map.set(base, [name]);
      else list.push(name);
    }
    return map;
  }

  async release(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#dropReadAhead();
    await this.#lock.release();
  }
}

/**
 * Reads the open file `fd` of a small message whole: normally one read of up to `size + 1`
 * octets (more than announced is enough for the server to refuse it), which a regular file
 * answers in full up to its end. No `fstat` first: `O_NOFOLLOW` already refused a link, a
 * directory fails the read (EISDIR), and a FIFO (opened without blocking) gives nothing, which
 * is then looked at; the length read is compared with the length the size was measured at.
 */
async function readWhole(io: MaildirIo, fd: number, entry: Entry, index: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(entry.size + 1);
  let length = 0;
  while (length < buffer.length) {
    const n = await io.read(fd, buffer.subarray(length), null);
    if (n === 0) break;
    length += n;
    // Read again only if it is still short of the length measured (a short read is the end).
    if (length >= (entry.bytes ?? 0)) break;
  }
  if (length === 0 && entry.size > 0 && !(await io.fstat(fd)).isFile()) {
    throw new BackendError("POP3_STORE", `message ${index + 1} is not a regular file`);
  }
  return buffer.subarray(0, length);
}

/** `error` if it is one of the store's own, else a `BackendError` with `message` and the cause. */
export function asBackendError(error: unknown, message: string): Error {
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

function asReadError(error: unknown, index: number): Error {
  if (error instanceof BackendError) return error;
  return new BackendError("POP3_STORE", `message ${index + 1} could not be read`, {
    cause: error,
  });
}

/** Unlinks `file`; false if it was not there. */
async function unlinkIfPresent(io: MaildirIo, file: string): Promise<boolean> {
  try {
    await io.unlink(file);
    return true;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return false;
    throw error;
  }
}

/** fsyncs a directory so the unlinks in it are durable (through the thread pool: it waits). */
export async function syncDirectory(io: MaildirIo, dir: string): Promise<void> {
  let fd: number;
  try {
    fd = await io.open(dir, OPEN_DIRECTORY);
  } catch (error) {
    // Windows cannot open a directory; its unlinks are as durable as they get.
    if (process.platform === "win32" && errorCode(error) === "EISDIR") return;
    throw error;
  }
  try {
    await io.fsync(fd);
  } finally {
    await closeQuietly(io, fd);
  }
}

/** Opens a directory to fsync it, not through a link. */
const OPEN_DIRECTORY =
  constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | (constants.O_NOFOLLOW ?? 0);
