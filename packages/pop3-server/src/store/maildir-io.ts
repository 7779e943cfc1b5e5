import type { BigIntStats, Dirent, Stats } from "node:fs";
import * as fs from "node:fs";
import { errorCode } from "./common";

/**
 * The file-system calls of the Maildir store, with one promise-returning shape and two ways to
 * make them (the store's `syncIo` option):
 *
 * - `syncIo`: each call is made at once on the event loop's thread. For a Maildir in the page
 *   cache a call costs a few microseconds, where a trip through libuv's thread pool costs tens
 *   of microseconds of CPU and two thread switches, and a session makes hundreds of calls.
 * - `asyncIo`: each call goes through libuv's thread pool, so that a call that waits for a slow
 *   disk or a network file system (NFS) never stalls the other sessions.
 *
 * `fsync` always goes through the thread pool: it waits for the disk by design.
 */
export interface MaildirIo {
  /** Whether calls run on the event loop's thread (see above). */
  readonly sync: boolean;
  /** `lstat` with nanosecond times; undefined if the path does not exist. */
  lstat(path: string): Promise<BigIntStats | undefined>;
  /** `lstat` with times in (fractional) milliseconds, as `fstat` gives; undefined if missing. */
  lstatMs(path: string): Promise<Stats | undefined>;
  readdir(dir: string): Promise<Dirent[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  link(existing: string, path: string): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
  lutimes(path: string, time: Date): Promise<void>;
  open(path: string, flags: number, mode?: number): Promise<number>;
  fstat(fd: number): Promise<Stats>;
  fstatBig(fd: number): Promise<BigIntStats>;
  /** Reads into `buffer` from `position` (null: the current position); resolves with the count. */
  read(fd: number, buffer: Uint8Array, position: number | null): Promise<number>;
  /** Writes all of `bytes` at the current position. */
  write(fd: number, bytes: Uint8Array): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
}

/** `fn()`'s value or exception as a settled promise. */
function now<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function lstatOrUndefined<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function writeAllSync(fd: number, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
}

/** A node-style callback as a promise. */
function callback<T>(start: (done: (error: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

function fsyncThroughPool(fd: number): Promise<void> {
  return callback<void>((done) => fs.fsync(fd, (error) => done(error, undefined)));
}

export const syncIo: MaildirIo = {
  sync: true,
  lstat: (path) => now(() => lstatOrUndefined(() => fs.lstatSync(path, { bigint: true }))),
  lstatMs: (path) => now(() => lstatOrUndefined(() => fs.lstatSync(path))),
  readdir: (dir) => now(() => fs.readdirSync(dir, { withFileTypes: true })),
  rename: (from, to) => now(() => fs.renameSync(from, to)),
  unlink: (path) => now(() => fs.unlinkSync(path)),
  link: (existing, path) => now(() => fs.linkSync(existing, path)),
  mkdir: (path, mode) => now(() => void fs.mkdirSync(path, { mode })),
  lutimes: (path, time) => now(() => fs.lutimesSync(path, time, time)),
  open: (path, flags, mode) => now(() => fs.openSync(path, flags, mode)),
  fstat: (fd) => now(() => fs.fstatSync(fd)),
  fstatBig: (fd) => now(() => fs.fstatSync(fd, { bigint: true })),
  read: (fd, buffer, position) => now(() => fs.readSync(fd, buffer, 0, buffer.length, position)),
  write: (fd, bytes) => now(() => writeAllSync(fd, bytes)),
  ftruncate: (fd, length) => now(() => fs.ftruncateSync(fd, length)),
  close: (fd) => now(() => fs.closeSync(fd)),
  fsync: fsyncThroughPool,
};

async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    at += await callback<number>((done) =>
      fs.write(fd, bytes, at, bytes.length - at, null, (error, written) => done(error, written)),
    );
  }
}

// fs's callback API rather than fs/promises: a FileHandle costs about three times the CPU per
// file, which is measurable at a hundred messages per session.
export const asyncIo: MaildirIo = {
  sync: false,
  lstat: async (path) => {
    try {
      return await callback<BigIntStats>((done) => fs.lstat(path, { bigint: true }, done));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw error;
    }
  },
  lstatMs: async (path) => {
    try {
      return await callback<Stats>((done) => fs.lstat(path, done));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw error;
    }
  },
  readdir: (dir) => callback<Dirent[]>((done) => fs.readdir(dir, { withFileTypes: true }, done)),
  rename: (from, to) => callback<void>((done) => fs.rename(from, to, (e) => done(e, undefined))),
  unlink: (path) => callback<void>((done) => fs.unlink(path, (e) => done(e, undefined))),
  link: (existing, path) =>
    callback<void>((done) => fs.link(existing, path, (e) => done(e, undefined))),
  mkdir: (path, mode) =>
    callback<void>((done) => fs.mkdir(path, { mode }, (e) => done(e, undefined))),
  lutimes: (path, time) =>
    callback<void>((done) => fs.lutimes(path, time, time, (e) => done(e, undefined))),
  open: (path, flags, mode) => callback<number>((done) => fs.open(path, flags, mode, done)),
  fstat: (fd) => callback<Stats>((done) => fs.fstat(fd, done)),
  fstatBig: (fd) => callback<BigIntStats>((done) => fs.fstat(fd, { bigint: true }, done)),
  read: (fd, buffer, position) =>
    callback<number>((done) =>
      fs.read(fd, buffer, 0, buffer.length, position, (error, bytesRead) => done(error, bytesRead)),
    ),
  write: writeAll,
  ftruncate: (fd, length) =>
    callback<void>((done) => fs.ftruncate(fd, length, (e) => done(e, undefined))),
  close: (fd) => callback<void>((done) => fs.close(fd, (e) => done(e, undefined))),
  fsync: fsyncThroughPool,
};

/** Closes `fd`, ignoring a failure: it was only read, so there is nothing to lose. */
export function closeQuietly(io: MaildirIo, fd: number): Promise<void> {
  return io.close(fd).catch(() => {});
}

/** The names of the regular files in `dir` that do not start with `.`. */
export async function listMessageFiles(io: MaildirIo, dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const d of await io.readdir(dir)) {
    if (d.isFile() && !d.name.startsWith(".")) names.push(d.name);
  }
  return names;
}
