import { RemoteProtocolError } from "../errors";

/**
 * Strict base64 (RFC 4648 §4, the standard alphabet with `=` padding), as SASL in POP3 requires
 * (RFC 5034 §4). The decoder accepts exactly one spelling of every byte string: no whitespace, no
 * URL-safe letters, no missing or extra padding, no stray bits in the last character.
 *
 * Error messages name the offset of the problem, never the offending text: the input is often a
 * password or a token.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD = 0x3d; // "="

/** ASCII code of each of the 64 digits. */
const ENCODE = new Uint8Array(64);
/** Value of each ASCII code, or -1 for characters outside the alphabet. */
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  const code = ALPHABET.charCodeAt(i);
  ENCODE[i] = code;
  DECODE[code] = i;
}

/** Characters per `String.fromCharCode` call: keeps the argument list well below engine limits. */
const CHUNK = 8192;

export function encodeBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
  const whole = bytes.length - (bytes.length % 3);
  let o = 0;
  for (let i = 0; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ENCODE[n >>> 18]!;
    out[o++] = ENCODE[(n >>> 12) & 63]!;
    out[o++] = ENCODE[(n >>> 6) & 63]!;
    out[o++] = ENCODE[n & 63]!;
  }
  const rest = bytes.length - whole;
  if (rest > 0) {
    const n = (bytes[whole]! << 16) | (rest === 2 ? bytes[whole + 1]! << 8 : 0);
    out[o++] = ENCODE[n >>> 18]!;
    out[o++] = ENCODE[(n >>> 12) & 63]!;
    out[o++] = rest === 2 ? ENCODE[(n >>> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return asciiToString(out);
}

export function decodeBase64Strict(text: string): Uint8Array {
  if (text.length % 4 !== 0) {
    throw bad(`length ${text.length} is not a multiple of 4`);
  }
  let padding = 0;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === PAD) {
    padding = text.charCodeAt(text.length - 2) === PAD ? 2 : 1;
  }
  const digits = text.length - padding;
  const out = new Uint8Array((text.length / 4) * 3 - padding);

  let o = 0;
  let i = 0;
  // Whole groups of four digits give three bytes each.
  for (; i + 4 <= digits; i += 4) {
    const n =
      (digit(text, i) << 18) |
      (digit(text, i + 1) << 12) |
      (digit(text, i + 2) << 6) |
      digit(text, i + 3);
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  // The padded last group: two digits give one byte, three digits give two.
  if (padding > 0) {
    const n =
      (digit(text, i) << 18) |
      (digit(text, i + 1) << 12) |
      (padding === 1 ? digit(text, i + 2) << 6 : 0);
    const unusedBits = padding === 2 ? n & 0xffff : n & 0xff;
    if (unusedBits !== 0) {
      throw bad(`the last character at offset ${digits - 1} has non-zero unused bits`);
    }
    out[o++] = n >>> 16;
    if (padding === 1) out[o++] = (n >>> 8) & 0xff;
  }
  return out;
}

function digit(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const value = code < 128 ? DECODE[code]! : -1;
  if (value < 0) {
    throw bad(
      code === PAD
        ? `misplaced padding at offset ${index}`
        : `character at offset ${index} is outside the base64 alphabet`,
    );
  }
  return value;
}

function bad(detail: string): RemoteProtocolError {
  return new RemoteProtocolError("POP3_BAD_BASE64", `Invalid base64: ${detail}`);
}

function asciiToString(codes: Uint8Array): string {
  if (codes.length <= CHUNK) return String.fromCharCode(...codes);
  const parts: string[] = [];
  for (let i = 0; i < codes.length; i += CHUNK) {
    parts.push(String.fromCharCode(...codes.subarray(i, i + CHUNK)));
  }
  return parts.join("");
}
