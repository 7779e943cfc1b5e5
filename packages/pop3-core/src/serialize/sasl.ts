import { badArgument } from "./reply-common";

/** Canonical base64 (RFC 4648 §4) with padding; empty allowed. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Serializes a SASL continuation (RFC 5034 §4), without CRLF: `+ ` and the base64 challenge;
 * `+ ` alone for an empty challenge. No length limit: RFC 5034 exempts SASL lines from the
 * 512-octet limit.
 *
 * @throws LocalProtocolError `POP3_BAD_ARGUMENT` unless `base64` is padded base64.
 */
export function serializeContinuation(base64: string): string {
  if (!BASE64.test(base64)) throw badArgument("SASL challenge is not padded base64", base64);
  return `+ ${base64}`;
}
