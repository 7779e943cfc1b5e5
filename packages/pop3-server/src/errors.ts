import { Pop3Error } from "pop3-core";

/**
 * Error codes of pop3-server. `responseCode` is the RFC 2449 / 3206 code the server puts on the
 * `-ERR` line for it, kept apart from the message.
 */
export type ServerErrorCode =
  | "POP3_IN_USE"
  | "POP3_CONFIG"
  | "POP3_STORE"
  | "POP3_UNSAFE_MAILDROP"
  | "POP3_AUTH_BACKEND"
  | "POP3_BAD_USER";

export class ServerError extends Pop3Error {
  readonly responseCode: string | undefined;

  constructor(
    code: ServerErrorCode,
    message: string,
    options: { responseCode?: string; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.responseCode = options.responseCode;
  }
}

/** Another session holds the maildrop's lock: answered with `-ERR [IN-USE]`. */
export class MaildropInUseError extends ServerError {
  constructor(
    message = "maildrop is locked by another session",
    options: { cause?: unknown } = {},
  ) {
    super("POP3_IN_USE", message, { responseCode: "IN-USE", ...options });
  }
}

/** A store or authentication backend failed: answered with `-ERR [SYS/TEMP]`, nothing changed. */
export class BackendError extends ServerError {
  constructor(
    code: "POP3_STORE" | "POP3_AUTH_BACKEND",
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { responseCode: "SYS/TEMP", ...options });
  }
}

/** A user name that can not name a maildrop (path escape, control characters). */
export class InvalidUserError extends ServerError {
  constructor(message: string) {
    super("POP3_BAD_USER", message, { responseCode: "AUTH" });
  }
}

/** Options that do not validate; the message lists every problem. */
export class ConfigError extends ServerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("POP3_CONFIG", message, options);
  }
}
