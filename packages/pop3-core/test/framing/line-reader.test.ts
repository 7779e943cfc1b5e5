import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LINE_TOO_LONG, LineReader } from "../../src/framing/line-reader";
import { ascii, splitAt, text } from "../helpers";

function readAll(reader: LineReader): (string | typeof LINE_TOO_LONG)[] {
  const lines: (string | typeof LINE_TOO_LONG)[] = [];
  for (;;) {
    const line = reader.readLine();
    if (line === undefined) return lines;
    lines.push(line === LINE_TOO_LONG ? line : text(line));
  }
}

describe("LineReader", () => {
  it("splits on CRLF and on a bare LF, keeping a CR inside a line", () => {
    const reader = new LineReader(100);
    reader.push(ascii("USER a\r\nPASS b c\nNO\rOP\r\npartial"));
    expect(readAll(reader)).toEqual(["USER a", "PASS b c", "NO\rOP"]);
    expect(reader.buffered).toBe(7);
    reader.push(ascii("\r\n"));
    expect(readAll(reader)).toEqual(["partial"]);
  });

  it("reports an over-long line at once and drops it up to the next LF", () => {
    const reader = new LineReader(10);
    reader.push(ascii("0123456789abc"));
    expect(reader.readLine()).toBe(LINE_TOO_LONG);
    reader.push(ascii("still the same line"));
    expect(reader.readLine()).toBeUndefined();
    expect(reader.buffered).toBe(0);
    reader.push(ascii("tail\r\nSTAT\r\n"));
    expect(readAll(reader)).toEqual(["STAT"]);
  });

  it("counts the line end in the limit (RFC 2449: 255 octets including CRLF)", () => {
    const reader = new LineReader(8);
    reader.push(ascii("123456\r\n1234567\r\n"));
    expect(readAll(reader)).toEqual(["123456", LINE_TOO_LONG]);
  });

  it("hands over the unread bytes", () => {
    const reader = new LineReader(100);
    reader.push(ascii("STLS\r\nCAPA\r\n"));
    expect(text(reader.readLine() as Uint8Array)).toBe("STLS");
    expect(text(reader.takeRest())).toBe("CAPA\r\n");
    expect(reader.readLine()).toBeUndefined();
  });

  test.prop([
    fc.array(fc.stringMatching(/^[ -~]{0,20}$/), { maxLength: 10 }),
    fc.array(fc.nat({ max: 250 }), { maxLength: 10 }),
  ])("gives the same lines however the bytes are cut", (lines, cuts) => {
    const bytes = ascii(lines.map((l) => `${l}\r\n`).join(""));
    const reader = new LineReader(64);
    const got: (string | typeof LINE_TOO_LONG)[] = [];
    for (const part of splitAt(bytes, cuts)) {
      reader.push(part);
      got.push(...readAll(reader));
    }
    expect(got).toEqual(lines);
  });
});
