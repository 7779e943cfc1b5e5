import { fc } from "@fast-check/vitest";

export const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, clamped). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort(
    (a, b) => a - b,
  );
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    parts.push(bytes.slice(start, p));
    start = p;
  }
  return parts;
}

/**
 * Reference CRLF normalisation, written the slow obvious way: each CR or LF alone, and each CRLF,
 * is one line end written as CRLF; a non-empty body gets a final CRLF if it lacks one.
 */
export function normalizeReference(body: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const b = body[i] as number;
    if (b === 0x0d) {
      out.push(0x0d, 0x0a);
      if (body[i + 1] === 0x0a) i++;
    } else if (b === 0x0a) {
      out.push(0x0d, 0x0a);
    } else {
      out.push(b);
    }
  }
  if (out.length > 0 && !(out.at(-2) === 0x0d && out.at(-1) === 0x0a)) out.push(0x0d, 0x0a);
  return Uint8Array.from(out);
}

/** Message-like bytes: lots of line ends, dots, CR/LF alone, NUL and 8-bit bytes. */
export const messageBytes = (maxLength = 300): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(0x2e, 0x0d, 0x0a, 0x00, 0xff, 0x20) },
        { weight: 2, arbitrary: fc.constantFrom(...ascii("\r\n.\r\n"), ...ascii("..")) },
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      { maxLength },
    )
    .map((bytes) => Uint8Array.from(bytes));
