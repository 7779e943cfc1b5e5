import { randomBytes } from "node:crypto";
import { rfcOctetSize } from "pop3-core";
import { BackendError, MaildropInUseError } from "../errors";
import { closedMaildropError, isValidUid, MAX_READ_CHUNK } from "./common";
import type { Maildrop, MailStore, MessageInfo } from "./types";

/**
 * Decides whether a commit fails, for tests: return `true` or an `Error` to make `commit` reject
 * with `BackendError` (the error becomes its `cause`) and remove nothing; anything else lets it
 * go through. A hook that throws fails the commit the same way.
 */
export type FailCommitHook = (
  user: string,
  deletedUids: readonly string[],
) => boolean | Error | undefined;

export interface MemoryStoreOptions {
  /** See `FailCommitHook`. Can also be set later through `store.failCommit`. */
  readonly failCommit?: FailCommitHook;
}

/** A message as `MemoryStore.messages` returns it: a copy of the stored bytes. */
export interface MemoryMessage extends MessageInfo {
  readonly bytes: Uint8Array;
}

interface StoredMessage {
  readonly info: MessageInfo;
  readonly bytes: Uint8Array;
}

interface UserState {
  messages: StoredMessage[];
  /** The token of the maildrop that holds the lock, if any. */
  lock: symbol | undefined;
  /** `deleteUser` ran while the lock was held: forget the user when it is released. */
  deleted: boolean;
}

const encoder = new TextEncoder();

/**
 * A `MailStore` in memory, for tests and the test harness. Messages are raw bytes, seeded with
 * `addMessage`; `messages` shows what is left after sessions committed their deletions.
 *
 * Each user's maildrop has an exclusive lock, a snapshot fixed at open (messages added during a
 * session appear in the next one), chunked reads of at most 64 KiB, and deletions only in
 * `commit`. UIDs are generated unique within the store and never reused, also after a message or
 * a whole user is deleted.
 */
export class MemoryStore implements MailStore {
  /** See `FailCommitHook`. */
  failCommit: FailCommitHook | undefined;

  readonly #users = new Map<string, UserState>();
  /** Every uid ever given out per user, so none is reused (kept after `deleteUser`). */
  readonly #usedUids = new Map<string, Set<string>>();
  /** A per-instance prefix so generated uids also differ from another instance's. */
  readonly #uidPrefix = randomBytes(4).toString("hex");
  #uidCounter = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.failCommit = options.failCommit;
  }

  /**
   * Adds a message to `user`'s maildrop (created on first use). A string is stored as UTF-8.
   * `options.uid` sets the uid; it must be 1–70 characters in 0x21–0x7E and never used before
   * for this user, or this throws `RangeError`. Returns the uid and the RFC 1939 size.
   */
  addMessage(
    user: string,
    message: Uint8Array | string,
    options: { readonly uid?: string } = {},
  ): { uid: string; size: number } {
    const bytes =
      typeof message === "string"
        ? encoder.encode(message)
        : Uint8Array.prototype.slice.call(message);
    const used = this.#usedUidsOf(user);
    let uid = options.uid;
    if (uid !== undefined) {
      if (!isValidUid(uid)) {
        throw new RangeError("a uid must be 1-70 characters in 0x21-0x7E");
      }
      if (used.has(uid)) throw new RangeError(`uid ${uid} was already used for this user`);
    } else {
      do {
        this.#uidCounter += 1;
        uid = `${this.#uidPrefix}.${this.#uidCounter}`;
      } while (used.has(uid));
    }
    used.add(uid);
    const info: MessageInfo = Object.freeze({ uid, size: rfcOctetSize(bytes) });
    this.#userState(user).messages.push({ info, bytes });
    return { uid: info.uid, size: info.size };
  }

  /** The current contents of `user`'s maildrop (copies), in message-number order. */
  messages(user: string): MemoryMessage[] {
    const state = this.#users.get(user);
    if (state === undefined) return [];
    return state.messages.map(({ info, bytes }) => ({
      uid: info.uid,
      size: info.size,
      bytes: Uint8Array.prototype.slice.call(bytes),
    }));
  }

  /**
   * Removes `user` and all their messages; returns whether the user existed. A session that has
   * the maildrop open keeps its snapshot and its lock until it ends. Uids stay used.
   */
  deleteUser(user: string): boolean {
    const state = this.#users.get(user);
    if (state === undefined) return false;
    state.messages = [];
    if (state.lock === undefined) this.#users.delete(user);
    else state.deleted = true;
    return true;
  }

  /** The users that have a maildrop (or hold a lock), in insertion order. */
  users(): string[] {
    return [...this.#users].filter(([, state]) => !state.deleted).map(([user]) => user);
  }

  /** Whether a session holds `user`'s lock. */
  isLocked(user: string): boolean {
    return this.#users.get(user)?.lock !== undefined;
  }

  async openMaildrop(user: string, signal?: AbortSignal): Promise<Maildrop> {
    signal?.throwIfAborted();
    if (this.#users.get(user)?.lock !== undefined) throw new MaildropInUseError();
    const state = this.#userState(user);
    const token = Symbol(user);
    state.lock = token;
    const snapshot = state.messages.slice();
    return new MemoryMaildrop(snapshot, {
      commit: (uids) => this.#commit(user, token, snapshot, uids),
      unlock: () => this.#unlock(user, token),
    });
  }

  #commit(
    user: string,
    token: symbol,
    snapshot: readonly StoredMessage[],
    uids: readonly string[],
  ): void {
    let verdict: boolean | Error | undefined;
    try {
      verdict = this.failCommit?.(user, uids);
    } catch (error) {
      verdict = error instanceof Error ? error : new Error(String(error));
    }
    if (verdict === true || verdict instanceof Error) {
      throw new BackendError(
        "POP3_STORE",
        "the deletions could not be committed",
        verdict instanceof Error ? { cause: verdict } : {},
      );
    }
    const state = this.#users.get(user);
    if (state === undefined || state.lock !== token) return;
    const wanted = new Set(uids);
    const doomed = new Set(snapshot.filter((m) => wanted.has(m.info.uid)));
    if (doomed.size > 0) state.messages = state.messages.filter((m) => !doomed.has(m));
  }

  #unlock(user: string, token: symbol): void {
    const state = this.#users.get(user);
    if (state === undefined || state.lock !== token) return;
    state.lock = undefined;
    if (state.deleted) this.#users.delete(user);
  }

  #userState(user: string): UserState {
    let state = this.#users.get(user);
    if (state === undefined) {
      state = { messages: [], lock: undefined, deleted: false };
      this.#users.set(user, state);
    }
    state.deleted = false;
    return state;
  }

  #usedUidsOf(user: string): Set<string> {
    let used = this.#usedUids.get(user);
    if (used === undefined) {
      used = new Set();
      this.#usedUids.set(user, used);
    }
    return used;
  }
}

interface MemoryMaildropHooks {
  commit(uids: readonly string[]): void;
  unlock(): void;
}

class MemoryMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #snapshot: readonly StoredMessage[];
  readonly #hooks: MemoryMaildropHooks;
  #open = true;

  constructor(snapshot: readonly StoredMessage[], hooks: MemoryMaildropHooks) {
    this.#snapshot = snapshot;
    this.#hooks = hooks;
    this.messages = Object.freeze(snapshot.map((m) => m.info));
  }

  /** Errors (closed maildrop, bad index, abort) surface when the iteration starts. */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#read(index, signal);
  }

  async *#read(index: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    if (!this.#open) throw closedMaildropError();
    const message = this.#snapshot[index];
    if (message === undefined) throw new RangeError(`no message at index ${index}`);
    const bytes = message.bytes;
    for (let start = 0; start < bytes.length; start += MAX_READ_CHUNK) {
      signal?.throwIfAborted();
      yield bytes.subarray(start, Math.min(start + MAX_READ_CHUNK, bytes.length));
    }
    signal?.throwIfAborted();
  }

  /** Removes the messages and releases the lock, also when the commit fails. */
  async commit(deletedUids: readonly string[]): Promise<void> {
    if (!this.#open) throw closedMaildropError();
    this.#open = false;
    try {
      this.#hooks.commit(deletedUids);
    } finally {
      this.#hooks.unlock();
    }
  }

  async release(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#hooks.unlock();
  }
}
