import {
  findApopTimestamp,
  isApopTimestamp,
  isResponseCode,
  scanResponseCode,
} from "../parse/reply-common";
import type { Greeting, StatusReply } from "../types/reply";
import { badArgument, checkLineLength, checkLineText } from "./reply-common";

/**
 * Serializes a status line, without CRLF: `+OK`/`-ERR`, then ` [CODE]` if there is a code, then
 * ` text` if the text is not empty. `parseStatusLine` reads the result back to an equal value.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` when the code is not `level *("/" level)` of
 *   printable ASCII (without brackets); when the text holds CR, LF, NUL or a lone surrogate; when
 *   there is no code but the text starts with something the parser would read as one (`[X] ...`);
 *   when the line would exceed 512 octets with CRLF (RFC 2449 §4, counted in UTF-8).
 */
export function serializeStatusLine(reply: StatusReply): string {
  const { ok, code, text } = reply;
  checkLineText(text, "status text");
  let line = ok ? "+OK" : "-ERR";
  if (code !== undefined) {
    if (!isResponseCode(code)) throw badArgument("invalid response code", code);
    line += ` [${code}]`;
  } else if (scanResponseCode(text) !== undefined) {
    throw badArgument("status text without a code must not start with a response code", text);
  }
  if (text !== "") line += ` ${text}`;
  checkLineLength(line, "status line");
  return line;
}

/**
 * Serializes a greeting, without CRLF. When `apopTimestamp` is set and the text does not contain
 * it, it is appended after a space (or becomes the text, if that is empty). The result always
 * parses back to the same `apopTimestamp`, so a greeting as returned by `parseGreeting`
 * round-trips exactly.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` for everything `serializeStatusLine` rejects;
 *   when `apopTimestamp` is not a single `<local@domain>` msg-id; when the text holds another
 *   msg-id-shaped token before the timestamp, or holds one while `apopTimestamp` is absent, since
 *   a client would take that for the APOP timestamp.
 */
export function serializeGreeting(greeting: Greeting): string {
  const { apopTimestamp } = greeting;
  let text = greeting.text;
  if (apopTimestamp !== undefined) {
    if (!isApopTimestamp(apopTimestamp)) {
      throw badArgument("APOP timestamp must be one <local@domain> msg-id", apopTimestamp);
    }
    if (!text.includes(apopTimestamp))
      text = text === "" ? apopTimestamp : `${text} ${apopTimestamp}`;
  }
  const seen = findApopTimestamp(text);
  if (seen !== apopTimestamp) {
    throw badArgument(
      apopTimestamp === undefined
        ? "greeting text holds a <...@...> token that clients would take for an APOP timestamp"
        : "greeting text holds another <...@...> token before the APOP timestamp",
      text,
    );
  }
  return greeting.code === undefined
    ? serializeStatusLine({ ok: greeting.ok, text })
    : serializeStatusLine({ ok: greeting.ok, code: greeting.code, text });
}
