import { protocolError, rejectLineBreakOrNul } from "./reply-common";

/**
 * True when `line` is a SASL continuation (RFC 5034 §4): `+` SP base64, or a bare `+`, which some
 * servers send for an empty challenge. `+OK` is not one.
 */
export function isContinuationLine(line: string): boolean {
  return line === "+" || line.startsWith("+ ");
}

/**
 * The base64 text of a SASL continuation line, exactly as sent after `+ ` (`""` for the empty
 * challenge `+ ` and for a bare `+`). The text is not checked against the base64 alphabet here:
 * decoding, and its `POP3_BAD_BASE64` error, belong to the SASL layer.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the line is not a continuation, and for lines
 *   holding CR, LF or NUL.
 */
export function parseContinuation(line: string): string {
  rejectLineBreakOrNul(line, "SASL continuation");
  if (line === "+") return "";
  if (line.startsWith("+ ")) return line.slice(2);
  throw protocolError('expected a SASL continuation starting with "+ "', line);
}
