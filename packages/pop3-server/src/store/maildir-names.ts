import { md5, toHex } from "pop3-core";
import { InvalidUserError } from "../errors";
import { isValidUid } from "./common";

/** The longest user name a Maildir store accepts, in UTF-8 bytes (a file name's limit). */
export const MAX_USER_NAME_BYTES = 255;

const utf8 = new TextEncoder();

/** A Maildir file name split at its info separator: `base:2,flags`. */
export interface MaildirName {
  /** The unique part, before the first `:`; stable across flag changes. */
  readonly base: string;
  /** The flags after `:2,`, or `""` when the name has no `2,` info. */
  readonly flags: string;
}

export function splitMaildirName(name: string): MaildirName {
  const colon = name.indexOf(":");
  if (colon < 0) return { base: name, flags: "" };
  const info = name.slice(colon + 1);
  return { base: name.slice(0, colon), flags: info.startsWith("2,") ? info.slice(2) : "" };
}

/**
 * The POP3 uid of a Maildir message: its base name when that is already a valid uid (1–70
 * characters in 0x21–0x7E), otherwise the 32-hex-digit MD5 of the base name's UTF-8 bytes.
 * Base names are unique by Maildir rules and survive flag renames, so the uid is stable.
 */
export function maildirUid(base: string): string {
  return isValidUid(base) ? base : toHex(md5(utf8.encode(base)));
}

/**
 * The RFC 1939 size Dovecot recorded in a base name (`,W=<size with CRLF line ends>`), if any.
 */
export function dovecotVirtualSize(base: string): number | undefined {
  return sizeField(base, /,W=(\d+)(?=,|$)/);
}

/**
 * The file's length Dovecot (or an MDA) recorded in a base name (`,S=<octets>`), if any: used
 * only to notice a file that changed, never as the RFC size.
 */
export function dovecotPhysicalSize(base: string): number | undefined {
  return sizeField(base, /,S=(\d+)(?=,|$)/);
}

function sizeField(base: string, field: RegExp): number | undefined {
  const match = field.exec(base);
  if (match?.[1] === undefined) return undefined;
  const size = Number(match[1]);
  return Number.isSafeInteger(size) ? size : undefined;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Compares two runs of decimal digits by value, without overflow. */
function compareDigitRuns(a: string, b: string): number {
  const x = a.replace(/^0+/, "");
  const y = b.replace(/^0+/, "");
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Delivery order of Maildir base names: a "natural" comparison in which runs of digits compare
 * by value, so the leading timestamp (`1700000000.M5P7.host`) and the microseconds and counters
 * that follow it sort numerically. Names that do not start with digits come after those that do.
 * Ties are broken by plain code-unit order, so the result is total and deterministic.
 */
export function compareMaildirBases(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const aDigit = isDigit(a.charCodeAt(i));
    const bDigit = isDigit(b.charCodeAt(j));
    if (aDigit !== bDigit) return aDigit ? -1 : 1;
    let i2 = i;
    let j2 = j;
    while (i2 < a.length && isDigit(a.charCodeAt(i2)) === aDigit) i2++;
    while (j2 < b.length && isDigit(b.charCodeAt(j2)) === bDigit) j2++;
    const runA = a.slice(i, i2);
    const runB = b.slice(j, j2);
    const order = aDigit ? compareDigitRuns(runA, runB) : runA < runB ? -1 : runA > runB ? 1 : 0;
    if (order !== 0) return order;
    i = i2;
    j = j2;
  }
  if (i < a.length || j < b.length) return i < a.length ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Throws `InvalidUserError` for a user name that could not safely name a directory: empty, `.`,
 * `..`, containing `/`, `\`, NUL or other control characters (C0, DEL, C1), not well-formed
 * UTF-16, or longer than 255 UTF-8 bytes. The message never quotes the name.
 */
export function assertSafeUserName(user: string): void {
  if (user.length === 0) throw new InvalidUserError("the user name is empty");
  if (user === "." || user === "..") throw new InvalidUserError("the user name is a dot name");
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i);
    if (c === 0x2f || c === 0x5c) {
      throw new InvalidUserError("the user name contains a path separator");
    }
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      throw new InvalidUserError("the user name contains control characters");
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = user.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
      } else {
        throw new InvalidUserError("the user name is not well-formed Unicode");
      }
    }
  }
  if (utf8.encode(user).length > MAX_USER_NAME_BYTES) {
    throw new InvalidUserError("the user name is too long");
  }
}
