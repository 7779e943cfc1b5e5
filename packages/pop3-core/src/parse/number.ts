import { RemoteProtocolError } from "../errors";

const DIGITS = /^[0-9]+$/;

/** A non-negative decimal in the safe-integer range, as POP3 writes sizes and counts. */
export function parseNonNegative(text: string, what: string): number {
  if (!DIGITS.test(text)) {
    throw new RemoteProtocolError("POP3_BAD_ARGUMENT", `${what} must be a decimal number`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RemoteProtocolError("POP3_BAD_ARGUMENT", `${what} is out of range`);
  }
  return value;
}

/** A message number: a positive decimal in the safe-integer range (RFC 1939 §3). */
export function parseMessageNumber(text: string): number {
  const value = parseNonNegative(text, "message number");
  if (value === 0) {
    throw new RemoteProtocolError("POP3_BAD_ARGUMENT", "message numbers start at 1");
  }
  return value;
}
