import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { join } from "node:path";
import { errorCode, OPEN_UNTRUSTED } from "./common";
import type { KnownSize } from "./maildir-index";
import { closeQuietly, type MaildirIo } from "./maildir-io";

/** The size cache's file name, in the Maildir's top directory. */
export const SIZE_CACHE_FILE = "pop3-sizes.json";
const CACHE_VERSION = 1;
/** A larger cache file is ignored (and rebuilt): about 600,000 messages' worth. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * The RFC 1939 sizes computed by earlier sessions, keyed by Maildir base name, so that a new
 * process (a restart, another worker) need not read every file again. The file is
 * `{"version":1,"entries":{"<base>":[mtimeMs, physical bytes, rfc size]}}`, written to a
 * temporary name in the same directory and renamed over the old one. An entry is used only for
 * a file that still has that mtime and length. It is advisory: a missing or broken cache is
 * simply rebuilt, and a failure to write it is ignored. The user may own the Maildir, so the
 * file is not trusted: a link, a FIFO or a huge file there counts as broken.
 */
export async function readSizeCache(
  io: MaildirIo,
  maildir: string,
): Promise<Map<string, KnownSize>> {
  try {
    return parseCache(await readCacheFile(io, join(maildir, SIZE_CACHE_FILE)));
  } catch {
    return new Map(); // missing or unreadable: start over
  }
}

/** Replaces the cache file with `entries`. Never rejects. */
export async function writeSizeCache(
  io: MaildirIo,
  maildir: string,
  entries: Iterable<readonly [string, KnownSize]>,
): Promise<void> {
  const out: Record<string, [number, number, number]> = {};
  for (const [base, e] of entries) out[base] = [e.mtimeMs, e.bytes, e.size];
  const text = Buffer.from(JSON.stringify({ version: CACHE_VERSION, entries: out }));
  const file = join(maildir, SIZE_CACHE_FILE);
  const tmp = `${file}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  let fd: number | undefined;
  try {
    fd = await io.open(tmp, CREATE_NEW, 0o600);
    await io.write(fd, text);
    await io.close(fd);
    fd = undefined;
    await io.rename(tmp, file);
  } catch (error) {
    if (fd !== undefined) await closeQuietly(io, fd);
    if (errorCode(error) !== "ENOENT") await io.unlink(tmp).catch(() => {});
  }
}

/** The cache file's text, if it is a regular file of at most `MAX_CACHE_BYTES`; else throws. */
async function readCacheFile(io: MaildirIo, file: string): Promise<string> {
  const fd = await io.open(file, OPEN_UNTRUSTED);
  try {
    const stats = await io.fstat(fd);
    if (!stats.isFile() || stats.size > MAX_CACHE_BYTES) throw new Error("not a size cache");
    const buffer = Buffer.allocUnsafe(stats.size + 1);
    let length = 0;
    for (;;) {
      const n = await io.read(fd, buffer.subarray(length), null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) throw new Error("the size cache grew while read");
    }
    return buffer.toString("utf8", 0, length);
  } finally {
    await closeQuietly(io, fd);
  }
}

function parseCache(text: string): Map<string, KnownSize> {
  const entries = new Map<string, KnownSize>();
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null) return entries;
  const { version, entries: raw } = value as Record<string, unknown>;
  if (version !== CACHE_VERSION || typeof raw !== "object" || raw === null) return entries;
  for (const [base, entry] of Object.entries(raw)) {
    if (!Array.isArray(entry) || entry.length !== 3) continue;
    const [mtimeMs, bytes, size] = entry as unknown[];
    if (typeof mtimeMs !== "number" || !Number.isFinite(mtimeMs)) continue;
    if (!isCount(bytes) || !isCount(size)) continue;
    entries.set(base, { mtimeMs, bytes, size });
  }
  return entries;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
