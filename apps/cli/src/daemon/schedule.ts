import { ServerReplyError } from "pop3-client";
import { EXIT, type ExitCode } from "../errors";

/**
 * When to poll an account next: pure functions of what the last poll gave, tested without
 * clocks. Exit status and error of a poll → an outcome; an outcome and the account's failures so
 * far → the delay to the next poll.
 */

export type Outcome =
  /** Fetched (or nothing new). */
  | "ok"
  /** Some messages failed, the rest was stored: the connection worked, no backoff. */
  | "partial"
  /** -ERR [LOGIN-DELAY]: logged in again too soon (RFC 2449). */
  | "login-delay"
  /** -ERR [IN-USE]: another session holds the maildrop (RFC 2449). */
  | "in-use"
  /** -ERR [SYS/TEMP]: the server has a temporary problem (RFC 3206). */
  | "sys-temp"
  /** Could not connect, TLS failed, timeout, connection lost. */
  | "connection"
  /** Login refused (a password command is run again next time). */
  | "auth"
  /** Anything else: -ERR to a command, a local file problem, a configuration problem. */
  | "failed"
  /** Ctrl-C / SIGTERM during the poll: the daemon stops. */
  | "interrupted";

export interface PollResult {
  readonly exitCode: ExitCode;
  /** Why the poll failed, when it did. */
  readonly error?: { readonly message: string; readonly code: string; readonly cause?: unknown };
  /** The server's LOGIN-DELAY (CAPA), when it announced one. */
  readonly loginDelaySeconds?: number;
}

/** The RFC 2449 / RFC 3206 response code in an error or its causes (`IN-USE`, `SYS/TEMP`…). */
export function responseCodeOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof ServerReplyError && e.responseCode !== undefined) {
      return e.responseCode.toUpperCase();
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function classify(result: PollResult): Outcome {
  const code = responseCodeOf(result.error?.cause ?? result.error);
  if (code === "LOGIN-DELAY" || code?.startsWith("LOGIN-DELAY/")) return "login-delay";
  if (code === "IN-USE" || code?.startsWith("IN-USE/")) return "in-use";
  if (code === "SYS/TEMP" || code?.startsWith("SYS/TEMP/")) return "sys-temp";
  switch (result.exitCode) {
    case EXIT.OK:
      return "ok";
    case EXIT.PARTIAL:
      return "partial";
    case EXIT.INTERRUPTED:
      return "interrupted";
    case EXIT.CONNECTION:
      return "connection";
    case EXIT.AUTH:
      return "auth";
    default:
      return "failed";
  }
}

export interface SchedulePolicy {
  /** --interval. */
  readonly intervalMs: number;
  /** The longest wait after failures (unless the interval or LOGIN-DELAY is longer). */
  readonly maxBackoffMs: number;
}

/** One hour: a server that is down for a day is still polled 24 times. */
export const MAX_BACKOFF_MS = 3_600_000;

export interface Next {
  /** Failures in a row, after this poll (0 after a success). */
  readonly failures: number;
  readonly delayMs: number;
}

/**
 * After a success: the interval (at least the server's LOGIN-DELAY), failures reset. After a
 * failure: the interval doubled per failure in a row (2×, 4×, 8×…), capped at `maxBackoffMs`,
 * never shorter than the interval or, after [LOGIN-DELAY], the server's LOGIN-DELAY.
 */
export function nextPoll(
  failures: number,
  outcome: Outcome,
  policy: SchedulePolicy,
  loginDelaySeconds?: number,
): Next {
  const loginDelayMs = (loginDelaySeconds ?? 0) * 1000;
  const floor = Math.max(policy.intervalMs, loginDelayMs);
  if (outcome === "ok" || outcome === "partial" || outcome === "interrupted") {
    return { failures: 0, delayMs: floor };
  }
  const inRow = failures + 1;
  const backoff = Math.min(policy.intervalMs * 2 ** inRow, Math.max(policy.maxBackoffMs, floor));
  return { failures: inRow, delayMs: Math.max(backoff, floor) };
}
