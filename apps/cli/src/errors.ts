import { ClientError, ServerReplyError } from "pop3-client";
import { LocalProtocolError, Pop3Error } from "pop3-core";

/** The process exit codes, documented in the README. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** Bad usage or configuration: unknown option, invalid value, missing password without a terminal. */
  USAGE: 1,
  /** Could not connect, TLS failed (untrusted certificate, no STLS), timeout, or the server broke the protocol. */
  CONNECTION: 2,
  /** Login refused (wrong password, mechanism not offered). */
  AUTH: 3,
  /** The server answered -ERR to a command (no such message, deletions not committed...). */
  SERVER: 4,
  /** `conformance`: at least one MUST check failed. */
  CONFORMANCE: 5,
  /** `fetch`: some messages could not be fetched or deleted; what was stored is safe. */
  PARTIAL: 6,
  /** A local file could not be read or written (-o, Maildir, mbox, state). */
  LOCAL_IO: 7,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in one line and turns into an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly code: string;

  constructor(
    exitCode: ExitCode,
    message: string,
    options: { code?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CliError";
    this.exitCode = exitCode;
    this.code = options.code ?? codeName(exitCode);
  }
}

function codeName(exitCode: ExitCode): string {
  for (const [name, value] of Object.entries(EXIT)) if (value === exitCode) return name;
  return "ERROR";
}

const CONNECTION_CODES = new Set([
  "POP3_CONNECTION",
  "POP3_TIMEOUT",
  "POP3_TLS",
  "POP3_CLOSED",
  "POP3_ABORTED",
  "POP3_TRUNCATED",
]);

/** Maps anything thrown to a CliError with the right exit code. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ServerReplyError) {
    // A -ERR greeting means the server refuses the connection.
    const exit = error.command === "greeting" ? EXIT.CONNECTION : EXIT.SERVER;
    return new CliError(exit, error.message, { code: error.code, cause: error });
  }
  if (error instanceof ClientError) {
    if (error.code === "POP3_CONFIG")
      return new CliError(EXIT.USAGE, error.message, { code: error.code, cause: error });
    if (CONNECTION_CODES.has(error.code)) {
      const hint =
        error.code !== "POP3_TLS"
          ? ""
          : /does not match certificate/i.test(error.message)
            ? " (the certificate is for another name: give that name with --servername NAME, or skip the check with --insecure)"
            : /certificate|self.signed|unable to verify/i.test(error.message)
              ? " (trust the server's certificate with --ca FILE, or skip the check with --insecure)"
              : "";
      return new CliError(EXIT.CONNECTION, `${error.message}${hint}`, {
        code: error.code,
        cause: error,
      });
    }
  }
  if (error instanceof LocalProtocolError) {
    return new CliError(EXIT.USAGE, error.message, { code: error.code, cause: error });
  }
  if (error instanceof Pop3Error) {
    // RemoteProtocolError: the server broke the protocol.
    return new CliError(EXIT.CONNECTION, `protocol error: ${error.message}`, {
      code: error.code,
      cause: error,
    });
  }
  if (isNodeError(error) && typeof error.code === "string" && error.syscall !== undefined) {
    return new CliError(EXIT.LOCAL_IO, error.message, { code: error.code, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(EXIT.USAGE, message, { code: "ERROR", cause: error });
}

/** A login failure: the server's -ERR, or no usable mechanism. */
export function authError(error: unknown): CliError {
  if (
    error instanceof ServerReplyError ||
    (error instanceof ClientError && error.code === "POP3_CONFIG")
  ) {
    return new CliError(EXIT.AUTH, `login failed: ${error.message}`, {
      code: error.code,
      cause: error,
    });
  }
  return toCliError(error);
}

export function isNodeError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && "code" in error;
}
