/**
 * The storage interface of the server. A store opens one user's maildrop at a time per session;
 * the maildrop holds the user's lock until it is released, shows a fixed snapshot of the messages
 * for the whole session, and deletes only in `commit`, which is the UPDATE state of RFC 1939 §6.
 */

/** One message as the session sees it. `size` is the RFC 1939 size: CRLF line ends, no stuffing. */
export interface MessageInfo {
  /** Unique id: 1–70 characters in 0x21–0x7E, stable across sessions, never reused. */
  readonly uid: string;
  readonly size: number;
}

export interface Maildrop {
  /** The snapshot taken when the maildrop was opened, in message-number order (index 0 = message 1). */
  readonly messages: readonly MessageInfo[];
  /**
   * The raw bytes of the message at `index` (0-based), as stored: any line ends, no stuffing.
   * The server streams them through pop3-core's encoder; nothing is buffered whole. `signal`
   * aborts a read the server gives up; it may be shared by a session's reads one after another,
   * so a listener added to it must be removed when the read ends.
   */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  /**
   * Removes these messages for good. Resolves only when the removal is durable (fsync, database
   * commit). Messages already gone are not an error. Rejects if anything could not be removed.
   */
  commit(deletedUids: readonly string[]): Promise<void>;
  /** Gives up the lock without deleting anything. Safe to call more than once. */
  release(): Promise<void>;
}

export interface MailStore {
  /**
   * Opens `user`'s maildrop and takes its exclusive lock. Rejects with `MaildropInUseError` when
   * another session holds it; any other rejection is a backend failure (`-ERR [SYS/TEMP]`).
   */
  openMaildrop(user: string, signal?: AbortSignal): Promise<Maildrop>;
  /** Frees resources held by the store itself (not the maildrops). */
  close?(): Promise<void>;
}
