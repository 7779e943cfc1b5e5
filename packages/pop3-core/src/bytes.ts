/** Byte values the framing code looks for. */
export const CR = 0x0d;
export const LF = 0x0a;
export const DOT = 0x2e;

export const CRLF: Uint8Array = Uint8Array.of(CR, LF);
export const EMPTY: Uint8Array = new Uint8Array(0);

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");

/** Encodes protocol text (command and status lines). Never used for message bodies. */
export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes a protocol line; invalid UTF-8 gives `undefined` so the caller can reject it. */
export function decodeTextStrict(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decodes human-readable text from the peer (status text); invalid bytes become U+FFFD. */
export function decodeTextLenient(bytes: Uint8Array): string {
  return lenientUtf8.decode(bytes);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** True when the string holds CR, LF or NUL, which must never reach a command or status line. */
export function hasLineBreakOrNul(text: string): boolean {
  return /[\r\n\0]/.test(text);
}
