import type { BigIntStats } from "node:fs";
import { join } from "node:path";
import { OctetSizeCounter } from "pop3-core";
import { errorCode, isDiskFull, MAX_READ_CHUNK, OPEN_UNTRUSTED } from "./common";
import {
  dirState,
  type Entry,
  type KnownSize,
  type Listing,
  type MaildropIndex,
  sameDirState,
  settledAt,
} from "./maildir-index";
import { closeQuietly, listMessageFiles, type MaildirIo } from "./maildir-io";
import {
  compareMaildirBases,
  dovecotPhysicalSize,
  dovecotVirtualSize,
  maildirUid,
  splitMaildirName,
} from "./maildir-names";
import { readSizeCache, writeSizeCache } from "./maildir-size-cache";

/** With the thread pool: how many files are stat'ed at once to check the size cache file. */
const STAT_CONCURRENCY = 16;
/** With the thread pool: how many files are read at once to compute sizes nobody knows. */
const SIZE_CONCURRENCY = 4;
/** With `syncIo`, measuring a large file gives the event loop a turn after this many octets. */
const YIELD_EVERY = 1024 * 1024;

/** What a login knows before it lists: the Maildir, and `cur/` and `new/` as `lstat` saw them. */
export interface ScanStart {
  readonly dir: string;
  readonly cur: BigIntStats;
  readonly new: BigIntStats;
  /** `Date.now()` before those `lstat`s. */
  readonly startedMs: number;
}

/**
 * The snapshot of a login: moves `new/` into `cur/` and lists the messages of `cur/` in delivery
 * order, with sizes. `index` is what earlier logins learnt (see `MaildropIndex`); it is updated.
 *
 * - If `cur/` and `new/` are as the index's listing found them (and had settled then), the
 *   listing is the snapshot: no directory is read and no file is looked at.
 * - Otherwise both are listed. A message's size is Dovecot's `,W=` if its name has one, else the
 *   size the index measured for its base name, else the size in `pop3-sizes.json` if the file
 *   still has the mtime and length recorded there (read once per index: a new process), else
 *   it is measured by reading the file.
 */
export async function scan(
  io: MaildirIo,
  start: ScanStart,
  index: MaildropIndex,
  signal: AbortSignal | undefined,
): Promise<Listing> {
  const cur = dirState(start.cur);
  const fresh = dirState(start.new);
  const known = index.listing;
  if (known !== undefined && sameDirState(known.cur, cur) && sameDirState(known.new, fresh)) {
    return known;
  }
  index.listing = undefined;
  const { names, newCount } = await moveNewToCur(io, start.dir);
  const unique = inDeliveryOrder(names);

  const sizes: (number | undefined)[] = new Array(unique.length);
  const found: (KnownSize | undefined)[] = new Array(unique.length);
  const unknown: number[] = [];
  for (let i = 0; i < unique.length; i++) {
    const { base } = unique[i]!;
    sizes[i] = dovecotVirtualSize(base);
    if (sizes[i] !== undefined) continue;
    found[i] = index.sizes.get(base);
    if (found[i] === undefined) unknown.push(i);
  }
  const curDir = join(start.dir, "cur");
  let changed = false;
  if (unknown.length > 0 && !index.sizeFileRead) {
    index.sizeFileRead = true;
    const cached = await readSizeCache(io, start.dir);
    // Entries of messages no longer here are stale: the file is rewritten without them.
    const here = new Set(unique.map((u) => u.base));
    for (const base of cached.keys()) if (!here.has(base)) changed = true;
    const checks = unknown.filter((i) => cached.has(unique[i]!.base));
    await eachLimit(io, checks, STAT_CONCURRENCY, signal, async (i) => {
      const item = unique[i]!;
      const entry = cached.get(item.base)!;
      const stats = await io.lstatMs(join(curDir, item.name));
      if (!stats?.isFile()) return; // vanished, or no longer a regular file: measured below
      if (stats.mtimeMs !== entry.mtimeMs || stats.size !== entry.bytes) return;
      found[i] = entry;
      index.sizes.set(item.base, entry);
    });
  }
  const toMeasure = unknown.filter((i) => found[i] === undefined);
  await eachLimit(io, toMeasure, SIZE_CONCURRENCY, signal, async (i) => {
    const item = unique[i]!;
    const measured = await measure(io, join(curDir, item.name), signal);
    if (measured === undefined) return; // vanished (or replaced by a link) while we looked
    sizes[i] = measured.size;
    if (measured.known === undefined) return;
    found[i] = measured.known;
    index.sizes.set(item.base, measured.known);
    changed = true;
  });

  const entries: Entry[] = [];
  const present = new Set<string>();
  for (let i = 0; i < unique.length; i++) {
    const { base, name, uid } = unique[i]!;
    const size = sizes[i] ?? found[i]?.size;
    if (size === undefined) continue; // vanished while we looked
    present.add(base);
    const bytes = found[i]?.bytes ?? dovecotPhysicalSize(base);
    entries.push({ uid, size, base, name, bytes, mtimeMs: found[i]?.mtimeMs });
  }
  for (const base of index.sizes.keys()) if (!present.has(base)) index.sizes.delete(base);
  if (changed) await writeSizeCache(io, start.dir, index.sizes);

  const listing: Listing = {
    cur,
    new: fresh,
    entries,
    messages: Object.freeze(entries.map((e) => Object.freeze({ uid: e.uid, size: e.size }))),
  };
  // Kept for the next login only if nothing was moved (a move changes both directories) and
  // both directories had settled before they were listed.
  if (newCount === 0 && settledAt(cur, start.startedMs) && settledAt(fresh, start.startedMs)) {
    index.listing = listing;
  }
  return listing;
}

/**
 * Moves every message of `new/` to `cur/` with the `:2,` info; returns the names in `cur/` and
 * how many files `new/` had.
 */
async function moveNewToCur(
  io: MaildirIo,
  dir: string,
): Promise<{ names: string[]; newCount: number }> {
  const newDir = join(dir, "new");
  const curDir = join(dir, "cur");
  const names = await listMessageFiles(io, curDir);
  const arrived = await listMessageFiles(io, newDir);
  if (arrived.length === 0) return { names, newCount: 0 };
  const bases = new Set(names.map((name) => splitMaildirName(name).base));
  for (const name of arrived) {
    const { base, flags } = splitMaildirName(name);
    // Same base already in cur/: not unique, so not ours to rename over. Leave it in new/.
    if (bases.has(base)) continue;
    const target = `${base}:2,${flags}`;
    try {
      await io.rename(join(newDir, name), join(curDir, target));
    } catch (error) {
      if (errorCode(error) === "ENOENT") continue; // another MUA took it
      // cur/ could not grow on a full disk: the message stays in new/ until there is room, and
      // the user can still log in to delete mail.
      if (isDiskFull(error)) continue;
      throw error;
    }
    names.push(target);
    bases.add(base);
  }
  return { names, newCount: arrived.length };
}

/** One file per uid (a copy under another flag set is skipped), in delivery order. */
function inDeliveryOrder(names: readonly string[]): { name: string; base: string; uid: string }[] {
  const candidates = names
    .map((name) => ({ name, base: splitMaildirName(name).base }))
    .sort((a, b) => compareMaildirBases(a.base, b.base) || (a.name < b.name ? -1 : 1));
  const seenUids = new Set<string>();
  const unique: { name: string; base: string; uid: string }[] = [];
  for (const candidate of candidates) {
    const uid = maildirUid(candidate.base);
    if (seenUids.has(uid)) continue;
    seenUids.add(uid);
    unique.push({ ...candidate, uid });
  }
  return unique;
}

/** Runs `fn` on every item (at most `limit` at a time through the thread pool); stops on abort. */
async function eachLimit<T>(
  io: MaildirIo,
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
  // Synchronous calls gain nothing from running side by side.
  const workers = io.sync ? 1 : Math.min(limit, items.length);
  await Promise.all(Array.from({ length: workers }, worker));
}

/**
 * The RFC size of one file, by reading it; undefined if it vanished or is not a regular file.
 * `known` (the size with the file's length and mtime) is given only if the file did not change
 * while it was read: only such a size is remembered.
 */
async function measure(
  io: MaildirIo,
  file: string,
  signal: AbortSignal | undefined,
): Promise<{ size: number; known: KnownSize | undefined } | undefined> {
  let fd: number;
  try {
    fd = await io.open(file, OPEN_UNTRUSTED);
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT" || code === "ELOOP") return undefined;
    throw error;
  }
  try {
    const before = await io.fstat(fd);
    if (!before.isFile()) return undefined;
    const counter = new OctetSizeCounter();
    const buffer = Buffer.allocUnsafe(Math.min(MAX_READ_CHUNK, before.size + 1));
    let total = 0;
    let sinceYield = 0;
    for (;;) {
      signal?.throwIfAborted();
      const bytesRead = await io.read(fd, buffer, null);
      if (bytesRead === 0) break;
      counter.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      // A short read of a regular file at its known length is its end: no read to see 0.
      if (bytesRead < buffer.length && total >= before.size) break;
      sinceYield += bytesRead;
      if (io.sync && sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const size = counter.end();
    const after = await io.fstat(fd);
    const unchanged = after.mtimeMs === before.mtimeMs && after.size === total;
    return {
      size,
      known: unchanged ? { size, bytes: total, mtimeMs: before.mtimeMs } : undefined,
    };
  } finally {
    await closeQuietly(io, fd);
  }
}
