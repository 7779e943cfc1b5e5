import { LocalProtocolError } from "../errors";
import type { DropListing, ScanListing, UidListing } from "../types/reply";
import { parseDecimal, protocolError, rejectLineBreakOrNul } from "./reply-common";

/** Two numbers separated by one space, optionally followed by a space and anything. */
const TWO_NUMBERS = /^([0-9]+) ([0-9]+)(?: .*)?$/s;
/** A number, one space and a run of printable ASCII, and nothing after it. */
const NUMBER_AND_UID = /^([0-9]+) ([\x21-\x7e]+)$/;

/** The RFC 1939 §7 limit on the length of a unique-id. */
export const MAX_UID_LENGTH = 70;

export interface UidListingOptions {
  /**
   * Longest unique-id accepted, in characters. Defaults to RFC 1939's 70. Raise it only to talk
   * to a server known to send longer ids; the character range 0x21–0x7E is always enforced.
   */
  readonly maxUidLength?: number;
}

/**
 * Parses a drop listing, the text of the `+OK` to STAT (RFC 1939 §5): `count size`. The RFC
 * "makes no requirement on what follows the maildrop size", so a space and anything after it is
 * accepted and ignored. Numbers are decimal digits only, safe integers, both may be 0.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the text does not start with two numbers.
 */
export function parseDropListing(text: string): DropListing {
  rejectLineBreakOrNul(text, "drop listing");
  const [count, size] = twoNumbers(text, "drop listing");
  return { count, size };
}

/**
 * Parses a scan listing (RFC 1939 §5 LIST): one line of a LIST answer, or the text of the `+OK`
 * to `LIST n`: `msg size`. As for STAT, a space and anything after the size is ignored. `msg` must
 * be at least 1.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the line is malformed.
 */
export function parseScanListing(line: string): ScanListing {
  rejectLineBreakOrNul(line, "scan listing");
  const [msg, size] = twoNumbers(line, "scan listing");
  if (msg < 1) throw protocolError("scan listing has message number 0", line);
  return { msg, size };
}

/**
 * Parses a unique-id listing (RFC 1939 §7 UIDL): one line of a UIDL answer, or the text of the
 * `+OK` to `UIDL n`: `msg uid`. Strict, because a misread id can make a client re-download or
 * delete the wrong message: the uid is 1 to `maxUidLength` (default 70) characters of 0x21–0x7E,
 * and nothing may follow it ("No information follows the unique-id"), not even a space.
 *
 * @throws RemoteProtocolError `POP3_PROTOCOL` when the line is malformed or the uid too long.
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` when `maxUidLength` is not a positive integer.
 */
export function parseUidListing(line: string, options?: UidListingOptions): UidListing {
  const maxUidLength = options?.maxUidLength ?? MAX_UID_LENGTH;
  if (!Number.isSafeInteger(maxUidLength) || maxUidLength < 1) {
    throw new LocalProtocolError(
      "POP3_BAD_ARGUMENT",
      `maxUidLength must be a positive integer, got ${String(maxUidLength)}`,
    );
  }
  rejectLineBreakOrNul(line, "unique-id listing");
  const match = NUMBER_AND_UID.exec(line);
  if (match === null) {
    throw protocolError('expected a unique-id listing "msg uid" (uid: 0x21-0x7E only)', line);
  }
  const msg = parseDecimal(match[1] as string);
  if (msg === undefined)
    throw protocolError("unique-id listing has a message number that is too large", line);
  if (msg < 1) throw protocolError("unique-id listing has message number 0", line);
  const uid = match[2] as string;
  if (uid.length > maxUidLength) {
    throw protocolError(`unique-id is longer than ${maxUidLength} characters`, line);
  }
  return { msg, uid };
}

function twoNumbers(line: string, what: string): [number, number] {
  const match = TWO_NUMBERS.exec(line);
  if (match === null) throw protocolError(`expected a ${what} of two decimal numbers`, line);
  const first = parseDecimal(match[1] as string);
  const second = parseDecimal(match[2] as string);
  if (first === undefined || second === undefined) {
    throw protocolError(`${what} has a number that is too large`, line);
  }
  return [first, second];
}
