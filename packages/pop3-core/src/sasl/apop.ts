import { encodeText } from "../bytes";
import type { Secret } from "../secret";
import { timingSafeEqual } from "./compare";
import { asciiLower } from "./internal";
import { md5, toHex } from "./md5";

/**
 * The APOP digest (RFC 1939 §7): lowercase hex MD5 of the greeting's timestamp, angle brackets
 * included, followed by the shared secret, both as UTF-8.
 */
export function apopDigest(timestamp: string, secret: string | Secret<string>): string {
  const shared = typeof secret === "string" ? secret : secret.reveal();
  return toHex(md5(encodeText(timestamp + shared)));
}

/**
 * Checks a client's APOP digest in constant time. Hex case is ignored; anything that is not
 * 32 hex digits simply does not match.
 */
export function verifyApopDigest(
  timestamp: string,
  secret: string | Secret<string>,
  digest: string,
): boolean {
  return timingSafeEqual(encodeText(apopDigest(timestamp, secret)), encodeText(asciiLower(digest)));
}
