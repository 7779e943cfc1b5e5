/**
 * Hooks a server calls as things happen, for metrics and auditing (`pop3-server/metrics` is
 * one). Every hook is optional, called synchronously, and must be quick; one that throws is
 * ignored and never disturbs a session.
 */

/** How a login attempt ended. */
export type LoginResult =
  /** Credentials accepted and the maildrop opened. */
  | "ok"
  /** Wrong credentials or unknown user (`-ERR [AUTH]`). */
  | "failed"
  /** Another session holds the maildrop (`-ERR [IN-USE]`). */
  | "in-use"
  /** RFC 2449 LOGIN-DELAY not over yet (`-ERR [LOGIN-DELAY]`). */
  | "delayed"
  /** The authentication backend or the store failed (`-ERR [SYS/TEMP]`). */
  | "error";

/** How a logged-in session ended. */
export type SessionOutcome =
  /** QUIT, and the UPDATE (deletions) was committed. */
  | "quit"
  /** QUIT, but the store could not commit: nothing was deleted (`-ERR [SYS/TEMP]`). */
  | "update-failed"
  /** The autologout timer ended it: nothing was deleted. */
  | "timeout"
  /** The client went away without QUIT, or the server ended it (limits, shutdown, errors). */
  | "dropped";

export interface ServerObserver {
  /** A login attempt ended; `mechanism` is `USER`, `APOP` or the SASL mechanism. */
  onLogin?(mechanism: string, result: LoginResult): void;
  /** A command was accepted for processing (`RETR`, `STAT`, ...; refused lines are not counted). */
  onCommand?(name: string): void;
  /** A RETR was answered in full: time from the command to the last byte queued, and its size. */
  onRetr?(durationMs: number, bytes: number): void;
  /** A login found the maildrop locked by another session (`-ERR [IN-USE]`). */
  onInUse?(): void;
  /** A logged-in session ended. */
  onSessionEnd?(outcome: SessionOutcome): void;
}

/** Calls `observer[hook](...args)` if it is there; an observer that throws is ignored. */
export function observe<K extends keyof ServerObserver>(
  observer: ServerObserver | undefined,
  hook: K,
  ...args: Parameters<NonNullable<ServerObserver[K]>>
): void {
  const fn = observer?.[hook] as ((...values: unknown[]) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.apply(observer, args);
  } catch {
    // An observer must never break a session.
  }
}
