import type { BigIntStats } from "node:fs";
import type { MessageInfo } from "./types";

/**
 * A directory whose last change (ctime) is younger than this when it is listed is listed again
 * at the next login. File-system times have a coarse tick (jiffies on Linux, a second or two on
 * some network file systems, and a file server's clock may be a little off ours): a file added
 * within the tick of a listing may leave the directory's times as they were. Dovecot's rule.
 */
export const SETTLE_MS = 2000;

/** A directory's identity and its last change. */
export interface DirState {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export function dirState(stats: BigIntStats): DirState {
  return { dev: stats.dev, ino: stats.ino, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs };
}

export function sameDirState(a: DirState, b: DirState): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Whether `dir` had not changed for `SETTLE_MS` at `whenMs` (a `Date.now()`). */
export function settledAt(dir: DirState, whenMs: number): boolean {
  return dir.ctimeNs < BigInt(Math.floor(whenMs - SETTLE_MS)) * 1_000_000n;
}

/** One message of a snapshot. */
export interface Entry {
  readonly uid: string;
  readonly size: number;
  readonly base: string;
  /** The file name in `cur/` when listed (a flag change by another MUA may rename it). */
  readonly name: string;
  /** The file's length and mtime when its size was measured or checked, if known. */
  readonly bytes: number | undefined;
  readonly mtimeMs: number | undefined;
}

/** A file's RFC 1939 size, with the length and mtime the file had when it was measured. */
export interface KnownSize {
  readonly size: number;
  readonly bytes: number;
  readonly mtimeMs: number;
}

/** The listing of `cur/` and `new/` from a login, reused while neither directory changed. */
export interface Listing {
  readonly cur: DirState;
  readonly new: DirState;
  readonly entries: readonly Entry[];
  readonly messages: readonly MessageInfo[];
}

/**
 * What the store remembers of one Maildir between its sessions, like Dovecot's index: the sizes
 * it measured, by base name (a Maildir file is never rewritten in place, only renamed or
 * removed; one that was anyway is caught when it is read, see `MaildirMaildrop`), and the last
 * listing, valid while `cur/` and `new/` keep the identity and times they had when it was made
 * and had already settled then (see `SETTLE_MS`).
 */
export class MaildropIndex {
  readonly sizes = new Map<string, KnownSize>();
  listing: Listing | undefined;
  /** Whether `pop3-sizes.json` was already read into `sizes`. */
  sizeFileRead = false;

  /** How many messages it holds, for the bound of `IndexCache`. */
  get weight(): number {
    return Math.max(1, this.sizes.size, this.listing?.entries.length ?? 0);
  }

  /** A message's file no longer matches what was measured: measure it again next time. */
  forget(base: string): void {
    this.sizes.delete(base);
    this.listing = undefined;
  }
}

/**
 * The `MaildropIndex` of each Maildir a store served recently, by path, holding at most
 * `maxMessages` messages in all: the least recently used Maildirs are dropped first. A Maildir
 * with more messages than that on its own is not kept at all. 0 keeps nothing.
 */
export class IndexCache {
  readonly #maxMessages: number;
  readonly #indexes = new Map<string, { index: MaildropIndex; weight: number }>();
  #total = 0;

  constructor(maxMessages: number) {
    this.#maxMessages = maxMessages;
  }

  /** The index of `dir` (a new, empty one if none is kept), now the most recently used. */
  get(dir: string): MaildropIndex {
    const kept = this.#indexes.get(dir);
    if (kept === undefined) return new MaildropIndex();
    this.#indexes.delete(dir);
    this.#indexes.set(dir, kept);
    return kept.index;
  }

  /** Keeps `index` as `dir`'s (after a login updated it), dropping others if over the bound. */
  keep(dir: string, index: MaildropIndex): void {
    this.#drop(dir);
    const weight = index.weight;
    if (weight > this.#maxMessages) return;
    this.#indexes.set(dir, { index, weight });
    this.#total += weight;
    for (const [oldest] of this.#indexes) {
      if (this.#total <= this.#maxMessages) break;
      this.#drop(oldest);
    }
  }

  /** How many Maildirs and messages are kept. */
  get size(): { maildrops: number; messages: number } {
    return { maildrops: this.#indexes.size, messages: this.#total };
  }

  #drop(dir: string): void {
    const kept = this.#indexes.get(dir);
    if (kept === undefined) return;
    this.#indexes.delete(dir);
    this.#total -= kept.weight;
  }
}
