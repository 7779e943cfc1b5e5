import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LineBreakScanner } from "../../src/framing/line-break-scanner";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** `nextUnusual` as its comment states it, one byte at a time. */
function naiveNextUnusual(bytes: Uint8Array, from: number): number {
  for (let i = from; i < bytes.length; i += 1) {
    const byte = bytes[i];
    if (byte === LF) return i;
    if (byte !== CR) continue;
    if (bytes[i + 1] !== LF) return i;
    if (bytes[i + 2] === DOT) return i + 2;
    i += 1;
  }
  return -1;
}

/** Positions that do not fall between the CR and LF of a pair. */
function validStarts(bytes: Uint8Array): number[] {
  const starts: number[] = [];
  for (let i = 0; i <= bytes.length; i += 1) {
    if (!(i > 0 && bytes[i - 1] === CR && bytes[i] === LF)) starts.push(i);
  }
  return starts;
}

// Bytes next to the ones looked for, and the same bytes with the high bit set, which a word-wise
// test gets wrong first if its borrow or mask is off.
const nearLineBreaks = fc.constantFrom(CR, LF, DOT, 0x09, 0x0c, 0x0e, 0x00, 0x8a, 0x8d, 0x8e, 0xff);
const someBytes = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: nearLineBreaks },
      { weight: 2, arbitrary: fc.constantFrom(CR, LF) },
      { weight: 5, arbitrary: fc.constant(0x61) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 255 }) },
    ),
    { maxLength: 70 },
  )
  .map((bytes) => Uint8Array.from(bytes));

describe("LineBreakScanner", () => {
  test.prop([someBytes, fc.nat({ max: 7 })])(
    "finds what a byte-by-byte search finds, from every position and at any alignment",
    (content, offset) => {
      // The same bytes at another offset of a larger buffer, so the head, words and tail move.
      const backing = new Uint8Array(offset + content.length + 5).fill(LF);
      backing.set(content, offset);
      const bytes = backing.subarray(offset, offset + content.length);
      const scanner = new LineBreakScanner(bytes);
      for (const from of validStarts(bytes)) {
        expect(scanner.nextUnusual(from)).toBe(naiveNextUnusual(bytes, from));
      }
    },
  );

  it("passes over CRLF lines, and stops at a dot that opens one", () => {
    const bytes = new TextEncoder().encode("To: a\r\nSubject: b\r\n\r\nbody\r\n.dot\r\nend\r\n");
    const scanner = new LineBreakScanner(bytes);
    expect(scanner.nextUnusual(0)).toBe(bytes.indexOf(DOT));
    expect(scanner.nextUnusual(bytes.indexOf(DOT))).toBe(-1);
  });

  it("does not read past the end of its view into the rest of the buffer", () => {
    const backing = new Uint8Array(64);
    for (let start = 0; start < 8; start += 1) {
      for (let length = 0; length < 20; length += 1) {
        backing.fill(LF);
        const bytes = backing.subarray(start, start + length);
        bytes.fill(0x61);
        expect(new LineBreakScanner(bytes).nextUnusual(0)).toBe(-1);
      }
    }
  });

  it("tells a line break from a byte above it with the high bit set", () => {
    const bytes = new Uint8Array(16).fill(0x8d);
    bytes[13] = LF;
    expect(new LineBreakScanner(bytes).nextUnusual(0)).toBe(13);
    bytes.fill(0x8a);
    expect(new LineBreakScanner(bytes).nextUnusual(0)).toBe(-1);
  });
});
