/**
 * One error hierarchy for the whole toolkit. Every error carries a stable `code` string that
 * callers can switch on; messages are for humans and may change.
 *
 * - `RemoteProtocolError`: the peer broke the protocol (garbage, oversize lines, missing
 *   terminator). The caller can usually answer `-ERR` (server) or must drop the connection (client).
 * - `LocalProtocolError`: this side misused the API (sent a command that is invalid now, put CR/LF
 *   into an argument). It is a bug in the caller, never something the network can trigger.
 */
export type Pop3ErrorCode =
  | "POP3_PROTOCOL"
  | "POP3_LINE_TOO_LONG"
  | "POP3_MESSAGE_TOO_LARGE"
  | "POP3_BAD_ARGUMENT"
  | "POP3_BAD_STATE"
  | "POP3_BAD_BASE64"
  | "POP3_UNEXPECTED_DATA"
  | "POP3_SASL";

export interface Pop3ErrorOptions {
  cause?: unknown;
}

export class Pop3Error extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: Pop3ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer sent something the protocol does not allow. */
export class RemoteProtocolError extends Pop3Error {
  constructor(code: Pop3ErrorCode, message: string, options?: Pop3ErrorOptions) {
    super(code, message, options);
  }
}

/** This side called the API in a way the protocol does not allow. */
export class LocalProtocolError extends Pop3Error {
  constructor(code: Pop3ErrorCode, message: string, options?: Pop3ErrorOptions) {
    super(code, message, options);
  }
}
