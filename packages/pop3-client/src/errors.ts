import { Pop3Error } from "pop3-core";

/**
 * Error codes of pop3-client. Protocol errors from the server's bytes come from pop3-core as
 * `RemoteProtocolError` (`POP3_PROTOCOL`, `POP3_LINE_TOO_LONG`, ...); misuse as `LocalProtocolError`.
 */
export type ClientErrorCode =
  | "POP3_CONNECTION"
  | "POP3_TIMEOUT"
  | "POP3_TLS"
  | "POP3_SERVER_ERROR"
  | "POP3_TRUNCATED"
  | "POP3_ABORTED"
  | "POP3_CLOSED"
  | "POP3_CONFIG"
  /** A warning (passed to `onWarning`), not an error: see `MissingFinalNewlineWarning`. */
  | "POP3_NO_FINAL_NEWLINE";

export class ClientError extends Pop3Error {
  constructor(code: ClientErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Response codes after which the same request may succeed later (RFC 2449 §8, RFC 3206). */
const RETRYABLE = ["IN-USE", "LOGIN-DELAY", "SYS/TEMP"];

/**
 * The server answered `-ERR`. `responseCode` is its RFC 2449 code (`IN-USE`, `LOGIN-DELAY`,
 * `SYS/TEMP`, `SYS/PERM`, `AUTH`, `UTF8`...) or undefined; `retryable` says whether trying again
 * later makes sense. The message never contains a password or token.
 */
export class ServerReplyError extends ClientError {
  readonly responseCode: string | undefined;
  readonly retryable: boolean;
  readonly serverText: string;
  readonly command: string;

  constructor(command: string, reply: { code?: string; text: string }) {
    const code = reply.code === undefined ? "" : ` [${reply.code}]`;
    super("POP3_SERVER_ERROR", `${command} failed:${code} ${reply.text}`.trimEnd());
    this.command = command;
    this.responseCode = reply.code;
    this.serverText = reply.text;
    const top = reply.code?.toUpperCase();
    this.retryable =
      top !== undefined && RETRYABLE.some((c) => top === c || top.startsWith(`${c}/`));
  }
}

/** A retrieved message's size differs from the size the server gave in LIST. */
export class TruncatedMessageError extends ClientError {
  readonly expected: number;
  readonly received: number;

  constructor(msg: number, expected: number, received: number) {
    super("POP3_TRUNCATED", `message ${msg}: LIST said ${expected} octets, received ${received}`);
    this.expected = expected;
    this.received = received;
  }
}

/**
 * Not an error, passed to `onWarning`: the message has no final newline, so the server ended its
 * last line with the CRLF every line of a multi-line answer needs (RFC 1939 §3) and sent exactly
 * 2 octets more than LIST counted, as Dovecot does. The message is accepted and delivered as the
 * server sent it, that CRLF included: `received` octets.
 */
export class MissingFinalNewlineWarning extends ClientError {
  readonly expected: number;
  readonly received: number;

  constructor(msg: number, expected: number, received: number) {
    super(
      "POP3_NO_FINAL_NEWLINE",
      `message ${msg}: LIST said ${expected} octets, received ${received}: the message has no final newline and the server added one; accepted with it`,
    );
    this.expected = expected;
    this.received = received;
  }
}
