import { LANGUAGE_TAG } from "../parse/language";
import type { LanguageListing } from "../types/reply";
import { badArgument, checkLineText } from "./reply-common";

/**
 * Serializes one line of the answer to a bare `LANG` (RFC 6856 §3), without CRLF: the tag, then a
 * space and the description when there is one. Send the lines with `ServerSession.sendLines`,
 * which encodes them as UTF-8; `parseLanguageListing` reads each back to an equal listing.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` for a tag that is not shaped like an RFC 5646
 *   tag, or a description with CR, LF, NUL or a lone surrogate (which has no UTF-8 form).
 */
export function serializeLanguageListing(listing: LanguageListing): string {
  if (!LANGUAGE_TAG.test(listing.tag)) {
    throw badArgument(
      "language tag must be subtags of 1-8 letters or digits joined by '-'",
      listing.tag,
    );
  }
  checkLineText(listing.description, "language description");
  return listing.description === "" ? listing.tag : `${listing.tag} ${listing.description}`;
}
