/**
 * A parsed transcript: the users and messages of its header (the maildrops a transport seeds)
 * and the steps of its sessions, in file order. Produced by `parseTranscript`; see FORMAT.md for the text form.
 */
export interface Transcript {
  /** The file name or label given to `parseTranscript`, used in messages. */
  readonly name?: string;
  /** `user NAME PASSWORD` lines. */
  readonly users: readonly TranscriptUser[];
  /** `message USER ...` lines, in order (message numbers follow this order per user). */
  readonly messages: readonly TranscriptMessage[];
  /** Session labels in the order they are first used; `""` is the unlabelled session. */
  readonly sessions: readonly string[];
  readonly steps: readonly TranscriptStep[];
}

export interface TranscriptUser {
  readonly line: number;
  readonly name: string;
  readonly password: string;
}

export interface TranscriptMessage {
  readonly line: number;
  readonly user: string;
  /** Set by `uid=...`; otherwise the server picks one. */
  readonly uid?: string;
  /** The message as stored (heredoc lines joined with CRLF plus a final CRLF, or the quoted bytes). */
  readonly bytes: Uint8Array;
}

/**
 * How an expected server line is compared with the received one (line end removed).
 * - `exact`: the same bytes.
 * - `prefix`: starts with `bytes`; with `word`, the line is `bytes` itself or `bytes` then a space.
 * - `regex`: the whole line, decoded as UTF-8 (invalid bytes become U+FFFD), matches `regex`.
 *   `source` is the pattern as written; `regex` is it anchored at both ends.
 */
export type LineMatch =
  | { readonly type: "exact"; readonly bytes: Uint8Array }
  | { readonly type: "prefix"; readonly bytes: Uint8Array; readonly word: boolean }
  | { readonly type: "regex"; readonly source: string; readonly regex: RegExp };

interface StepBase {
  /** 1-based line number in the transcript text. */
  readonly line: number;
  /** The transcript line as written. */
  readonly source: string;
}

interface SessionStepBase extends StepBase {
  /** The session label; `""` for unlabelled `C:` / `S:` lines. */
  readonly session: string;
}

/** `C:` (a line, CRLF appended) or `C>` (bytes as they are). Consecutive sends of one session go out in one write. */
export interface SendStep extends SessionStepBase {
  readonly kind: "send";
  /** The exact bytes to send, CRLF included for `C:`. */
  readonly bytes: Uint8Array;
}

/** `S:` or `S~`: one status (or other single) line from the server. */
export interface ExpectLineStep extends SessionStepBase {
  readonly kind: "expect-line";
  readonly match: LineMatch;
  /** `S|` / `S.` lines follow: once this line matched, a dot-terminated multi-line body is read. */
  readonly opensBody: boolean;
}

/** `S|` or `S|~`: one line of a multi-line body, unstuffed (as the message holds it). */
export interface ExpectBodyLineStep extends SessionStepBase {
  readonly kind: "expect-body-line";
  readonly match: LineMatch;
}

/** `S.`: the terminating `.` of a multi-line body; `S. ...` skips any remaining lines first. */
export interface ExpectBodyEndStep extends SessionStepBase {
  readonly kind: "expect-body-end";
  readonly skipRest: boolean;
}

/** `connect [label]`, or the first use of a session (then `implicit`). */
export interface ConnectStep extends SessionStepBase {
  readonly kind: "connect";
  readonly implicit: boolean;
}

/** `close [label]`: the client closes the connection. */
export interface CloseStep extends SessionStepBase {
  readonly kind: "close";
}

/** `expect-close [label]`: the server must close the connection, sending nothing more. */
export interface ExpectCloseStep extends SessionStepBase {
  readonly kind: "expect-close";
}

/** `starttls [label]`: the TLS handshake after `+OK` to STLS. */
export interface StartTlsStep extends SessionStepBase {
  readonly kind: "starttls";
}

/** `wait 200ms` / `wait 1s`: a pause (pending sends are written first). */
export interface WaitStep extends StepBase {
  readonly kind: "wait";
  readonly ms: number;
}

export type SessionStep =
  | SendStep
  | ExpectLineStep
  | ExpectBodyLineStep
  | ExpectBodyEndStep
  | ConnectStep
  | CloseStep
  | ExpectCloseStep
  | StartTlsStep;

export type TranscriptStep = SessionStep | WaitStep;
