import { MAX_UID_LENGTH } from "pop3-core";
import { BackendError } from "../errors";

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

/** The error every store throws when a maildrop is used after `commit` or `release`. */
export function closedMaildropError(): BackendError {
  return new BackendError("POP3_STORE", "the maildrop is closed (committed or released)");
}

/** Node's error code (`ENOENT`, …) of a thrown value, if it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
