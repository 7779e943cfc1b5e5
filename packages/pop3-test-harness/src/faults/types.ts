import type { Pop3CommandName } from "pop3-core";

/**
 * What can go wrong, as seen from a client. Faults that change how bytes travel (chunk, trickle,
 * stall, drop) work on any answer; the others imitate servers seen in the wild.
 */
export type Fault =
  /** Write the answer in pieces of `size` bytes (1: a byte at a time). */
  | { readonly type: "chunk"; readonly size: number }
  /** Like chunk, with a pause between pieces. */
  | { readonly type: "trickle"; readonly size?: number; readonly delayMs: number }
  /** Never answer; the connection stays open. */
  | { readonly type: "stall" }
  /** Send only the first `bytes` octets of the answer, then drop the connection. */
  | { readonly type: "drop"; readonly afterBytes: number }
  /** Answer `-ERR [code] text` instead of the server. */
  | { readonly type: "error"; readonly code?: string; readonly text?: string }
  /** Send message bodies without dot-stuffing (yapople-style servers). */
  | { readonly type: "no-dot-stuffing" }
  /** Bare LF instead of CRLF everywhere in the answer. */
  | { readonly type: "bare-lf" }
  /** No line end before the terminating dot: the body runs into `.CRLF`. */
  | { readonly type: "no-final-line-end" }
  /** Report sizes (LIST, STAT, `+OK n octets`) off by `delta`. */
  | { readonly type: "wrong-size"; readonly delta: number }
  /** Answer a bare AUTH with a mechanism list, as Dovecot does and Outlook expects. */
  | { readonly type: "auth-list"; readonly mechanisms?: readonly string[] }
  /** NUL bytes inside the status line, as some Exchange front ends send. */
  | { readonly type: "nul-bytes" };

/** Which answers a fault applies to, and how often. */
export interface FaultRule {
  /** A command name, `GREETING`, or `*` for every answer. Default `*`. */
  readonly on?: Pop3CommandName | "GREETING" | "*";
  /** How many matching answers it applies to. Default: all of them. */
  readonly times?: number;
  readonly fault: Fault;
}
