import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { errorCode, OPEN_UNTRUSTED } from "./common";

/** The size cache's file name, in the Maildir's top directory. */
export const SIZE_CACHE_FILE = "pop3-sizes.json";
const CACHE_VERSION = 1;
/** A larger cache file is ignored (and rebuilt): about 600,000 messages' worth. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;

/** One cached size: valid while the file's mtime and physical size are unchanged. */
export interface CachedSize {
  readonly mtimeMs: number;
  readonly bytes: number;
  readonly size: number;
}

/**
 * The RFC 1939 sizes computed by earlier sessions, keyed by Maildir base name. The file is
 * `{"version":1,"entries":{"<base>":[mtimeMs, physical bytes, rfc size]}}`, written to a
 * temporary name in the same directory and renamed over the old one. It is advisory: a missing
 * or broken cache is simply rebuilt, and a failure to write it is ignored. The user may own the
 * Maildir, so the file is not trusted: a link, a FIFO or a huge file there counts as broken.
 */
export class SizeCache {
  readonly #file: string;
  readonly #old: Map<string, CachedSize>;
  readonly #next = new Map<string, CachedSize>();
  #dirty = false;

  private constructor(file: string, entries: Map<string, CachedSize>) {
    this.#file = file;
    this.#old = entries;
  }

  static async load(maildir: string): Promise<SizeCache> {
    const file = join(maildir, SIZE_CACHE_FILE);
    let entries = new Map<string, CachedSize>();
    try {
      entries = parseCache(await readCacheFile(file));
    } catch {
      // Missing or unreadable: start over.
    }
    return new SizeCache(file, entries);
  }

  /** The cached size of `base` if the file still has this mtime and physical size. */
  lookup(base: string, mtimeMs: number, bytes: number): number | undefined {
    const entry = this.#old.get(base);
    if (entry === undefined || entry.mtimeMs !== mtimeMs || entry.bytes !== bytes) return undefined;
    this.#next.set(base, entry);
    return entry.size;
  }

  store(base: string, entry: CachedSize): void {
    this.#next.set(base, entry);
    this.#dirty = true;
  }

  /** Writes the entries looked up or stored in this session, if anything changed. */
  async save(): Promise<void> {
    if (!this.#dirty && this.#next.size === this.#old.size) return;
    const entries: Record<string, [number, number, number]> = {};
    for (const [base, e] of this.#next) entries[base] = [e.mtimeMs, e.bytes, e.size];
    const text = JSON.stringify({ version: CACHE_VERSION, entries });
    const tmp = `${this.#file}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
    try {
      await fsp.writeFile(tmp, text, { mode: 0o600, flag: "wx" });
      await fsp.rename(tmp, this.#file);
    } catch (error) {
      if (errorCode(error) !== "ENOENT") await fsp.unlink(tmp).catch(() => {});
    }
  }
}

/** The cache file's text, if it is a regular file of at most `MAX_CACHE_BYTES`; else throws. */
async function readCacheFile(file: string): Promise<string> {
  const handle = await fsp.open(file, OPEN_UNTRUSTED);
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size > MAX_CACHE_BYTES) throw new Error("not a size cache");
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

function parseCache(text: string): Map<string, CachedSize> {
  const entries = new Map<string, CachedSize>();
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
