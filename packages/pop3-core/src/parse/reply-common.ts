/**
 * Grammar pieces shared by the reply parsers and serializers. Internal to the reply codec: not
 * meant for the package index.
 */
import { RemoteProtocolError } from "../errors";

/** How much of an offending line goes into an error message. */
const SNIPPET_LENGTH = 80;

/** The start of `line`, quoted and escaped, for error messages. */
export function snippet(line: string): string {
  const quoted = JSON.stringify(line.slice(0, SNIPPET_LENGTH));
  return line.length > SNIPPET_LENGTH ? `${quoted}…` : quoted;
}

/** `RemoteProtocolError("POP3_PROTOCOL")` saying what was wrong, with the start of the line. */
export function protocolError(problem: string, line: string): RemoteProtocolError {
  return new RemoteProtocolError("POP3_PROTOCOL", `${problem}: ${snippet(line)}`);
}

/**
 * Throws when a received line holds CR, LF or NUL. Framing ends lines at CRLF, so any of these
 * inside a line is a framing violation (or an attempt to smuggle a second line into logs or UI).
 */
export function rejectLineBreakOrNul(line: string, what: string): void {
  if (/[\r\n\0]/.test(line)) throw protocolError(`${what} contains CR, LF or NUL`, line);
}

/** A run of decimal digits as a safe integer; `undefined` for anything else. */
export function parseDecimal(digits: string): number | undefined {
  if (!/^[0-9]+$/.test(digits)) return undefined;
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Upper-cases a-z only, so that e.g. U+017F (ſ) can never turn into an ASCII keyword. */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

/**
 * One level of an RFC 2449 §3 response code: `rchar` = printable ASCII except `/` and `]`. This
 * is stricter than "anything but `/`, `]`, SP, CR, LF": controls and non-ASCII are excluded too, so
 * `[Ärger]` is plain text. DEL (0x7F), which the RFC's range includes, is excluded as well.
 */
const LEVEL = "[\\x21-\\x2e\\x30-\\x5c\\x5e-\\x7e]+";
const RESP_CODE_PREFIX = new RegExp(`^\\[(${LEVEL}(?:/${LEVEL})*)\\]`);
const RESP_CODE_EXACT = new RegExp(`^${LEVEL}(?:/${LEVEL})*$`);

/**
 * The response code at the very start of `text` (the status text after `+OK `/`-ERR `), without
 * brackets, and the index just past its `]`; `undefined` when `text` does not start with one.
 */
export function scanResponseCode(text: string): { code: string; end: number } | undefined {
  const match = RESP_CODE_PREFIX.exec(text);
  if (match === null) return undefined;
  return { code: match[1] as string, end: match[0].length };
}

/** True for a code such as `SYS/TEMP` (without brackets) that the parser would read back. */
export function isResponseCode(code: string): boolean {
  return RESP_CODE_EXACT.test(code);
}

/**
 * An RFC 822 msg-id as used for the APOP timestamp (RFC 1939 §7): `<local@domain>`, printable
 * ASCII, no spaces, no `<` or `>` inside, at least one character either side of the first `@`.
 */
const MSG_ID_BODY = "<[\\x21-\\x3b\\x3d\\x3f\\x41-\\x7e]+@[\\x21-\\x3b\\x3d\\x3f-\\x7e]+>";
const MSG_ID_SEARCH = new RegExp(MSG_ID_BODY);
const MSG_ID_EXACT = new RegExp(`^${MSG_ID_BODY}$`);

/** The first msg-id-shaped `<...>` in `text`, brackets included, or `undefined`. */
export function findApopTimestamp(text: string): string | undefined {
  return MSG_ID_SEARCH.exec(text)?.[0];
}

/** True when `value` is exactly one msg-id-shaped timestamp, brackets included. */
export function isApopTimestamp(value: string): boolean {
  return MSG_ID_EXACT.test(value);
}
