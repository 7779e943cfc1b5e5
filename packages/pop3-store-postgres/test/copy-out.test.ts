/**
 * The binary COPY parser fed real COPY output cut at every possible place (the CopyData
 * messages may split a header, a length or a value anywhere). No database needed: the bytes are
 * built here in the documented format, and compared byte for byte.
 */
import { describe, expect, it } from "vitest";
import { BinaryCopyParser, type Pieces } from "../src/copy-out";

function copyOutput(values: Buffer[], extension = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(19);
  Buffer.from("PGCOPY\n\xff\r\n\0", "latin1").copy(header);
  header.writeUInt32BE(0, 11);
  header.writeUInt32BE(extension.length, 15);
  const rows = values.map((v) => {
    const row = Buffer.alloc(6);
    row.writeInt16BE(1, 0);
    row.writeInt32BE(v.length, 2);
    return Buffer.concat([row, v]);
  });
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  return Buffer.concat([header, extension, ...rows, trailer]);
}

const values = [
  Buffer.from("Subject: one\r\n\r\n.dot\r\n"),
  Buffer.alloc(0),
  Buffer.from([0, 0xff, 0x0d, 0x0a, 0x2e, 0x80]),
  Buffer.alloc(300, 7),
];

const joined = (got: readonly Pieces[]): Buffer[] => got.map((pieces) => Buffer.concat(pieces));
const sameValues = (got: readonly Pieces[]): boolean =>
  got.length === values.length && joined(got).every((v, i) => v.equals(values[i] as Buffer));

describe("BinaryCopyParser", () => {
  it("gives back every value, byte for byte, wherever the input is cut", () => {
    const bytes = copyOutput(values, Buffer.from("ext"));
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const second of [
        cut,
        Math.min(bytes.length, cut + 1),
        Math.min(bytes.length, cut + 7),
      ]) {
        const parser = new BinaryCopyParser();
        parser.push(bytes.subarray(0, cut));
        parser.push(bytes.subarray(cut, second));
        parser.push(bytes.subarray(second));
        if (!parser.finished || !sameValues(parser.values)) {
          throw new Error(`wrong values with cuts at ${cut} and ${second}`);
        }
      }
    }
  });

  it("one byte at a time, and values are copies when the input buffer is reused", () => {
    const bytes = copyOutput(values);
    const parser = new BinaryCopyParser();
    for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1), true);
    bytes.fill(0);
    expect(joined(parser.values)).toEqual(values);
  });

  it("values are views of the input when it is not reused: no copy", () => {
    const bytes = copyOutput(values);
    const parser = new BinaryCopyParser();
    parser.push(bytes.subarray(0, 40), false);
    parser.push(bytes.subarray(40), false);
    expect(joined(parser.values)).toEqual(values);
    const last = parser.values[3] as Pieces;
    expect(last.every((piece) => piece.buffer === bytes.buffer)).toBe(true);
    bytes.fill(0);
    expect(Buffer.concat(last).every((b) => b === 0)).toBe(true);
  });

  it("refuses what is not binary COPY of one column", () => {
    expect(() => new BinaryCopyParser().push(Buffer.alloc(19))).toThrow(/signature/);
    const twoColumns = copyOutput([Buffer.from("x")]);
    twoColumns.writeInt16BE(2, 19);
    expect(() => new BinaryCopyParser().push(twoColumns)).toThrow(/2 fields/);
    const nul = copyOutput([Buffer.from("x")]);
    nul.writeInt32BE(-1, 21);
    expect(() => new BinaryCopyParser().push(nul)).toThrow(/NULL/);
    const extra = Buffer.concat([copyOutput([]), Buffer.from("!")]);
    expect(() => new BinaryCopyParser().push(extra)).toThrow(/after its trailer/);
  });
});
