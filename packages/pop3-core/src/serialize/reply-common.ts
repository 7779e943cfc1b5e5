/**
 * Checks shared by the reply serializers. Internal to the reply codec: not meant for the package
 * index.
 */
import { LocalProtocolError } from "../errors";
import { snippet } from "../parse/reply-common";

/** RFC 2449 §4: a status or capability line is at most 512 octets including CRLF. */
export const MAX_REPLY_LINE_OCTETS = 512;

export function badArgument(problem: string, value?: string): LocalProtocolError {
  const message = value === undefined ? problem : `${problem}: ${snippet(value)}`;
  return new LocalProtocolError("POP3_BAD_ARGUMENT", message);
}

/** Throws unless `text` can go into a line: no CR, LF or NUL, and no lone UTF-16 surrogate. */
export function checkLineText(text: string, what: string): void {
  if (/[\r\n\0]/.test(text)) throw badArgument(`${what} contains CR, LF or NUL`, text);
  if (/\p{Cs}/u.test(text)) throw badArgument(`${what} contains a lone surrogate`, text);
}

/** Octets of `text` in UTF-8 (lone surrogates count as the 3 octets of U+FFFD). */
export function utf8Length(text: string): number {
  let octets = 0;
  for (const char of text) {
    const cp = char.codePointAt(0) as number;
    octets += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return octets;
}

/** Throws when `line` plus CRLF would exceed 512 octets (RFC 2449 §4). */
export function checkLineLength(line: string, what: string): void {
  const octets = utf8Length(line) + 2;
  if (octets > MAX_REPLY_LINE_OCTETS) {
    throw badArgument(
      `${what} would be ${octets} octets with CRLF, over the ${MAX_REPLY_LINE_OCTETS} of RFC 2449 §4`,
      line,
    );
  }
}

/** Throws unless `value` is a safe integer of at least `min`. */
export function checkInteger(value: number, min: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw badArgument(`${what} must be a safe integer >= ${min}, got ${String(value)}`);
  }
}
