import type { LanguageListing } from "../types/reply";
import { protocolError, rejectLineBreakOrNul } from "./reply-common";

/**
 * The shape every RFC 5646 language tag has: subtags of 1 to 8 letters or digits joined by `-`,
 * the first one letters only. Looser than RFC 5646's registry rules on purpose: a client needs
 * to read the tag back, not to judge whether the language exists.
 */
export const LANGUAGE_TAG = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/;

/**
 * Parses one line of the answer to a bare `LANG` (RFC 6856 §3), without CRLF: a language tag,
 * then optionally one space and a description. The description is kept verbatim (spaces and all,
 * any UTF-8); a line without one, and a line that ends right after the space, both give `""`:
 * the format makes no difference between them. The tag keeps the case it was sent in (tags are
 * case-insensitive: compare them with `toLowerCase()`).
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the line does not start with a language tag
 *   followed by a space or the end of the line, or holds CR, LF or NUL.
 */
export function parseLanguageListing(line: string): LanguageListing {
  rejectLineBreakOrNul(line, "language listing");
  const space = line.indexOf(" ");
  const tag = space === -1 ? line : line.slice(0, space);
  if (!LANGUAGE_TAG.test(tag)) {
    throw protocolError('expected a language listing "tag [description]"', line);
  }
  return { tag, description: space === -1 ? "" : line.slice(space + 1) };
}
