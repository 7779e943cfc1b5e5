import type { Greeting, StatusReply } from "../types/reply";
import {
  findApopTimestamp,
  protocolError,
  rejectLineBreakOrNul,
  scanResponseCode,
} from "./reply-common";

/** `+OK` or `-ERR` (any case), then the end of the line or one space and the rest. */
const STATUS_LINE = /^(\+ok|-err)(?: (.*))?$/is;

/**
 * Parses a status line (RFC 1939 §3, RFC 2449 §3 and §8) given without its CRLF.
 *
 * - The status indicator is matched case-insensitively: the RFC says `+OK`/`-ERR`, but accepting
 *   `+ok` costs nothing and real servers vary. Nothing records which case was used.
 * - It must be followed by the end of the line or one space; `+OKAY`, `OK` or `+ abc` (a SASL
 *   continuation) throw.
 * - A response code `[A/B/C]` is recognised only right after that space. Levels are RFC 2449
 *   `rchar`s (printable ASCII except `/` and `]`). Something that is not a well-formed code, such
 *   as `[` without `]` or `[]`, is plain text. After a code, one leading space of the text is
 *   dropped.
 * - Codes are recognised whether or not the server advertised RESP-CODES; callers that care may
 *   ignore `code` in that case (RFC 2449 §8).
 * - No length limit is applied here; the framing layer owns line limits.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` for anything that is not a status line, and for
 *   lines holding CR, LF or NUL.
 */
export function parseStatusLine(line: string): StatusReply {
  rejectLineBreakOrNul(line, "status line");
  const match = STATUS_LINE.exec(line);
  if (match === null) {
    const problem =
      line === "+" || line.startsWith("+ ")
        ? "expected +OK or -ERR, got a SASL continuation"
        : "expected a status line starting with +OK or -ERR";
    throw protocolError(problem, line);
  }
  const ok = (match[1] as string).startsWith("+");
  const rest = match[2] ?? "";
  const scanned = scanResponseCode(rest);
  if (scanned === undefined) return { ok, text: rest };
  const after = rest.slice(scanned.end);
  return { ok, code: scanned.code, text: after.startsWith(" ") ? after.slice(1) : after };
}

export { findApopTimestamp };

/**
 * Parses the server greeting (RFC 1939 §4). It is a status line (usually `+OK`, but a busy server
 * may greet with `-ERR`), and `apopTimestamp` is the first `<local@domain>` token in its text
 * (RFC 1939 §7: an RFC 822 msg-id, brackets included): printable ASCII, no spaces, no `<`/`>`
 * inside, something on both sides of `@`. Absent when there is none. `text` keeps the timestamp.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the line is not a status line.
 */
export function parseGreeting(line: string): Greeting {
  const reply = parseStatusLine(line);
  const apopTimestamp = findApopTimestamp(reply.text);
  return apopTimestamp === undefined ? reply : { ...reply, apopTimestamp };
}
