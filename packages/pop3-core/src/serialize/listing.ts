import type { DropListing, ScanListing, UidListing } from "../types/reply";
import { badArgument, checkInteger } from "./reply-common";

/** RFC 1939 §7: a unique-id is 1 to 70 characters of 0x21-0x7E. */
const UID = /^[\x21-\x7e]{1,70}$/;

/**
 * Serializes a drop listing, the text of the `+OK` to STAT: `count size` (prefix `+OK `
 * yourself).
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` unless both are safe integers >= 0.
 */
export function serializeDropListing(listing: DropListing): string {
  checkInteger(listing.count, 0, "message count");
  checkInteger(listing.size, 0, "maildrop size");
  return `${listing.count} ${listing.size}`;
}

/**
 * Serializes a scan listing: a line of a LIST answer, or the text of the `+OK` to `LIST n`.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` unless `msg` >= 1 and `size` >= 0 are safe
 *   integers.
 */
export function serializeScanListing(listing: ScanListing): string {
  checkInteger(listing.msg, 1, "message number");
  checkInteger(listing.size, 0, "message size");
  return `${listing.msg} ${listing.size}`;
}

/**
 * Serializes a unique-id listing: a line of a UIDL answer, or the text of the `+OK` to `UIDL n`.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` unless `msg` >= 1 is a safe integer and `uid` is
 *   1 to 70 characters of 0x21-0x7E (always the RFC limit, whatever the parser is told to accept).
 */
export function serializeUidListing(listing: UidListing): string {
  checkInteger(listing.msg, 1, "message number");
  if (!UID.test(listing.uid)) {
    throw badArgument("unique-id must be 1 to 70 characters of 0x21-0x7E", listing.uid);
  }
  return `${listing.msg} ${listing.uid}`;
}
