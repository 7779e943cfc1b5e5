import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { TopFilter } from "../../src/framing/top-filter";
import { ascii, concat, splitAt, text } from "../helpers";

function top(
  message: Uint8Array,
  lines: number,
  cuts: number[] = [],
): { out: string; done: boolean } {
  const filter = new TopFilter(lines);
  const out = splitAt(message, cuts).map((c) => filter.push(c).slice());
  return { out: text(concat(out)), done: filter.done };
}

const MESSAGE = "From: a\r\nSubject: b\r\n\r\none\r\ntwo\r\nthree\r\n";

describe("TopFilter", () => {
  it("TOP n 0 gives the header and the blank line", () => {
    expect(top(ascii(MESSAGE), 0)).toEqual({ out: "From: a\r\nSubject: b\r\n\r\n", done: true });
  });

  it("gives the first n body lines", () => {
    expect(top(ascii(MESSAGE), 2).out).toBe("From: a\r\nSubject: b\r\n\r\none\r\ntwo\r\n");
  });

  it("gives a body shorter than n lines whole", () => {
    expect(top(ascii(MESSAGE), 50).out).toBe(MESSAGE);
  });

  it("gives a message without a blank line whole", () => {
    expect(top(ascii("From: a\r\nSubject: b"), 0).out).toBe("From: a\r\nSubject: b");
  });

  it("counts bare LF and bare CR as line ends, as the encoder does", () => {
    expect(top(ascii("H: 1\n\nx\ry\nz\n"), 2).out).toBe("H: 1\n\nx\ry\n");
    expect(top(ascii("H: 1\r\r\nbody"), 0).out).toBe("H: 1\r\r\n");
  });

  test.prop([
    fc.array(fc.stringMatching(/^[a-z: ]{0,6}$/), { maxLength: 12 }),
    fc.nat({ max: 6 }),
    fc.array(fc.nat({ max: 100 }), { maxLength: 6 }),
  ])("matches a line-by-line reference for any cut", (lines, n, cuts) => {
    const message = lines.map((l) => `${l}\r\n`).join("");
    const blank = lines.indexOf("");
    const expected =
      blank === -1
        ? message
        : lines
            .slice(0, blank + 1 + n)
            .map((l) => `${l}\r\n`)
            .join("");
    expect(top(ascii(message), n, cuts).out).toBe(expected);
  });
});
