/** Quoted strings of the transcript format, and the display form of received bytes. */

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder("utf-8");

export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Invalid UTF-8 becomes U+FFFD: for regular expressions, never for comparisons. */
export function decodeLenient(bytes: Uint8Array): string {
  return lenientUtf8.decode(bytes);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
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

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function startsWith(line: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > line.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix[i]) return false;
  return true;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  r: 0x0d,
  n: 0x0a,
  t: 0x09,
  "0": 0x00,
  "\\": 0x5c,
  '"': 0x22,
};

/**
 * Decodes a quoted string: `"` ... `"` with `\r \n \t \0 \\ \" \xHH`; any other character is
 * taken as UTF-8. The closing quote must end the text. Throws an `Error` whose message says what
 * is wrong (the parser adds the line number).
 */
export function decodeQuoted(text: string): Uint8Array {
  if (!text.startsWith('"')) throw new Error("a quoted string starts with a double quote");
  const out: number[] = [];
  let i = 1;
  for (;;) {
    if (i >= text.length) throw new Error('unterminated quoted string: add the closing "');
    const c = text[i] as string;
    if (c === '"') {
      if (i !== text.length - 1) {
        throw new Error(
          `unexpected text after the closing quote: ${JSON.stringify(text.slice(i + 1))}`,
        );
      }
      return Uint8Array.from(out);
    }
    if (c !== "\\") {
      const codePoint = text.codePointAt(i) as number;
      const char = String.fromCodePoint(codePoint);
      for (const byte of encoder.encode(char)) out.push(byte);
      i += char.length;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) throw new Error('unterminated quoted string: add the closing "');
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out.push(simple);
      i += 2;
      continue;
    }
    if (next === "x") {
      const hex = text.slice(i + 2, i + 4);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new Error(`\\x needs two hex digits, got ${JSON.stringify(hex)}`);
      }
      out.push(Number.parseInt(hex, 16));
      i += 4;
      continue;
    }
    throw new Error(`unknown escape \\${next} (use \\r \\n \\t \\0 \\\\ \\" or \\xHH)`);
  }
}

const MAX_SHOWN = 300;

/**
 * A received byte string as a quoted, escaped string that `decodeQuoted` reads back: printable
 * ASCII and valid UTF-8 as they are, `\r \n \t \\ \"`, every other byte as `\xHH`. Longer than
 * 300 octets, it is cut and the total length given.
 */
export function showBytes(bytes: Uint8Array): string {
  const shown = bytes.length > MAX_SHOWN ? bytes.subarray(0, MAX_SHOWN) : bytes;
  let out = '"';
  let i = 0;
  while (i < shown.length) {
    const byte = shown[i] as number;
    if (byte < 0x80) {
      out += showAscii(byte);
      i += 1;
      continue;
    }
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    const char = length > 1 ? utf8Char(shown.subarray(i, i + length)) : undefined;
    if (char === undefined) {
      out += hex(byte);
      i += 1;
    } else {
      out += char;
      i += length;
    }
  }
  out += '"';
  return shown === bytes ? out : `${out}... (${bytes.length} octets)`;
}

function showAscii(byte: number): string {
  if (byte === 0x5c) return "\\\\";
  if (byte === 0x22) return '\\"';
  if (byte === 0x0d) return "\\r";
  if (byte === 0x0a) return "\\n";
  if (byte === 0x09) return "\\t";
  if (byte < 0x20 || byte === 0x7f) return hex(byte);
  return String.fromCharCode(byte);
}

function utf8Char(bytes: Uint8Array): string | undefined {
  try {
    const char = strictUtf8.decode(bytes);
    return [...char].length === 1 ? char : undefined;
  } catch {
    return undefined;
  }
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}
