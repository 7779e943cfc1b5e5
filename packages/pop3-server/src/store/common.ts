import { constants } from "node:fs";
import { MAX_UID_LENGTH } from "pop3-core";
import { BackendError, ServerError } from "../errors";

/** The largest chunk a store's `read` yields: 64 KiB. */
export const MAX_READ_CHUNK = 64 * 1024;

/** Whether `uid` is a valid POP3 unique id: 1–70 characters in 0x21–0x7E (RFC 1939 §7). */
export function isValidUid(uid: string): boolean {
  if (uid.length === 0 || uid.length > MAX_UID_LENGTH) return false;
  for (let i = 0; i < uid.length; i++) {
    const c = uid.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * The maildrop is not where it should be: a symbolic link between the mail root and the
 * Maildir's `cur/`, `new/` or `tmp/` could lead into another user's Maildir or out of the root.
 * An operator must fix it, so it is permanent: the server should answer `-ERR [SYS/PERM]`.
 */
export class UnsafeMaildropError extends ServerError {
  constructor(message: string) {
    super("POP3_UNSAFE_MAILDROP", message, { responseCode: "SYS/PERM" });
  }
}

/**
 * Flags for opening a file a user could have replaced: `O_NOFOLLOW` so a symbolic link is
 * refused (`ELOOP`) rather than followed out of the Maildir, and `O_NONBLOCK` so a FIFO put in
 * its place does not block one of libuv's few threads for ever in `open`. Neither changes
 * reading a regular file; callers still `fstat` to refuse anything else. (Windows has neither.)
 */
export const OPEN_UNTRUSTED =
  constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** The error every store throws when a maildrop is used after `commit` or `release`. */
export function closedMaildropError(): BackendError {
  return new BackendError("POP3_STORE", "the maildrop is closed (committed or released)");
}

/** Whether `error` says the disk (or the user's quota) is full. */
export function isDiskFull(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Node's error code (`ENOENT`, …) of a thrown value, if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
