import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../../src/errors";
import { MultilineDecoder } from "../../src/framing/multiline-decoder";
import {
  encodeMultiline,
  MultilineEncoder,
  OctetSizeCounter,
  rfcOctetSize,
} from "../../src/framing/multiline-encoder";
import { ascii, concat, messageBytes, normalizeReference, splitAt, text } from "../helpers";

function decodeAll(
  chunks: readonly Uint8Array[],
  options: ConstructorParameters<typeof MultilineDecoder>[0] = {},
) {
  const decoder = new MultilineDecoder(options);
  const data: Uint8Array[] = [];
  let done = false;
  let rest: Uint8Array = new Uint8Array(0);
  for (const chunk of chunks) {
    if (done) {
      rest = concat([rest, chunk]);
      continue;
    }
    const result = decoder.push(chunk);
    data.push(...result.data.map((d) => d.slice()));
    done = result.done;
    rest = result.rest.slice();
  }
  return { body: concat(data), done, rest, size: decoder.size };
}

function encodeInChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const encoder = new MultilineEncoder();
  const out = chunks.map((c) => encoder.push(c).slice());
  return concat([...out, encoder.end()]);
}

/** Dot-stuffing of CRLF-normalised bytes, line by line (RFC 1939 §3), as a reference. */
function stuffReference(normalized: Uint8Array): Uint8Array {
  return ascii(
    text(normalized)
      .split("\r\n")
      .map((line) => (line.startsWith(".") ? `.${line}` : line))
      .join("\r\n"),
  );
}

describe("MultilineEncoder", () => {
  it("stuffs leading dots, normalises line ends and terminates", () => {
    const wire = encodeMultiline(ascii(".hidden\n..two\r.\r\nlast"));
    expect(text(wire)).toBe("..hidden\r\n...two\r\n..\r\nlast\r\n.\r\n");
  });

  it("sends an empty body as the terminator alone", () => {
    expect(text(encodeMultiline(new Uint8Array(0)))).toBe(".\r\n");
  });

  it("passes ordinary CRLF mail through without copying", () => {
    const chunk = ascii("Subject: hi\r\n\r\nbody\r\n");
    expect(new MultilineEncoder().push(chunk)).toBe(chunk);
  });

  it("stuffs a dot that opens a chunk at a line start", () => {
    const encoder = new MultilineEncoder();
    expect(
      text(concat([encoder.push(ascii("a\r\n")), encoder.push(ascii(".b\r\n")), encoder.end()])),
    ).toBe("a\r\n..b\r\n.\r\n");
  });

  it("joins a CR and an LF that arrive in different chunks into one line end", () => {
    expect(text(encodeInChunks([ascii("a\r"), ascii("\n.b")]))).toBe("a\r\n..b\r\n.\r\n");
    expect(text(encodeInChunks([ascii("a\r"), ascii("b")]))).toBe("a\r\nb\r\n.\r\n");
  });

  test.prop([messageBytes()])("decoding the encoding gives the CRLF-normalised body", (body) => {
    const decoded = decodeAll([encodeMultiline(body)]);
    expect(decoded.done).toBe(true);
    expect(decoded.rest.length).toBe(0);
    expect(decoded.body).toEqual(normalizeReference(body));
  });

  test.prop([messageBytes(), fc.array(fc.nat({ max: 300 }), { maxLength: 8 })])(
    "gives the same bytes however the input is cut",
    (body, cuts) => {
      expect(encodeInChunks(splitAt(body, cuts))).toEqual(encodeMultiline(body));
    },
  );

  test.prop([messageBytes(), fc.array(fc.nat({ max: 300 }), { maxLength: 8 })])(
    "counts the RFC size as the normalised length, streamed or whole",
    (body, cuts) => {
      const expected = normalizeReference(body).length;
      expect(rfcOctetSize(body)).toBe(expected);
      const counter = new OctetSizeCounter();
      for (const part of splitAt(body, cuts)) counter.push(part);
      expect(counter.end()).toBe(expected);
    },
  );

  test.prop([messageBytes(), fc.array(fc.nat({ max: 300 }), { maxLength: 8 })])(
    "octets is the RFC size of what was pushed so far, after every chunk",
    (body, cuts) => {
      const encoder = new MultilineEncoder();
      let pushed = 0;
      for (const part of splitAt(body, cuts)) {
        encoder.push(part);
        pushed += part.length;
        expect(encoder.octets).toBe(normalizeReference(body.subarray(0, pushed)).length);
      }
    },
  );

  // Hostile mail can need a change on every byte. Each chunk's encoding must still be right, in
  // one buffer of at most twice the chunk (no byte becomes more than two), and ordinary mail must
  // not pay for that room.
  it.each([
    ["a bare LF per byte", "\n"],
    ["a bare CR per byte", "\r"],
    ["a line of one dot per three bytes", "\r\n."],
    ["a bare LF and a dot", "\n."],
    ["a dot, CR, then a letter", ".\rb"],
  ])("encodes a 64 KiB chunk of %s in at most twice its size", (_name, unit) => {
    const chunk = ascii(unit.repeat(Math.ceil(65536 / unit.length)).slice(0, 65536));
    const encoder = new MultilineEncoder();
    const out = encoder.push(chunk);
    expect(concat([out, encoder.end()])).toEqual(
      concat([stuffReference(normalizeReference(chunk)), ascii(".\r\n")]),
    );
    expect(out.buffer.byteLength).toBeLessThanOrEqual(2 * chunk.length);
  });

  it("encodes ordinary mail with a few stuffed dots into a buffer barely larger than the chunk", () => {
    const line = "a".repeat(74);
    const lines = Array.from({ length: 840 }, (_, i) => (i % 40 === 0 ? `.${line}` : line));
    const chunk = ascii(`${lines.join("\r\n")}\r\n`);
    const out = new MultilineEncoder().push(chunk);
    expect(out.length).toBe(chunk.length + 21);
    expect(out.buffer.byteLength).toBeLessThan(chunk.length * 1.05);
  });

  it("no line of the encoding is a lone dot before the end", () => {
    const wire = text(encodeMultiline(ascii(".\r\n.\n\r.\r\n")));
    expect(wire).toBe("..\r\n..\r\n\r\n..\r\n.\r\n");
    expect(wire.indexOf("\r\n.\r\n")).toBe(wire.length - 5);
  });
});

describe("MultilineDecoder", () => {
  it("unstuffs, stops at the terminator and returns what follows", () => {
    const result = decodeAll([ascii("..a\r\nb\r\n.\r\n+OK next\r\n")]);
    expect(text(result.body)).toBe(".a\r\nb\r\n");
    expect(text(result.rest)).toBe("+OK next\r\n");
    expect(result.size).toBe(7);
  });

  it("strips the dot of a line that starts with a single dot (RFC 1939 §3)", () => {
    expect(text(decodeAll([ascii(".x\r\n.\r\n")]).body)).toBe("x\r\n");
    expect(text(decodeAll([ascii(".\rx\r\n.\r\n")]).body)).toBe("\rx\r\n");
  });

  it("ends an empty body at once", () => {
    const result = decodeAll([ascii(".\r\n")]);
    expect(result.done).toBe(true);
    expect(result.body.length).toBe(0);
  });

  it("finds a terminator split across every pair of chunks (node-pop3 #36)", () => {
    const wire = ascii("line one\r\n..two\r\n.\r\n");
    for (let cut = 0; cut <= wire.length; cut++) {
      const result = decodeAll([wire.slice(0, cut), wire.slice(cut)]);
      expect(result.done, `cut at ${cut}`).toBe(true);
      expect(text(result.body), `cut at ${cut}`).toBe("line one\r\n.two\r\n");
    }
  });

  it("is not ended early by a chunk that is just a dot", () => {
    const result = decodeAll([
      ascii("a\r\n"),
      ascii("."),
      ascii("."),
      ascii("b\r\n"),
      ascii(".\r\n"),
    ]);
    expect(text(result.body)).toBe("a\r\n.b\r\n");
  });

  it("in strict mode, a bare LF does not start a line", () => {
    const strict = decodeAll([ascii("a\n.\nb\r\n.\r\n")]);
    expect(text(strict.body)).toBe("a\n.\nb\r\n");
  });

  it("in lenient mode, LF alone ends lines and `LF.LF` ends the body", () => {
    const lenient = decodeAll([ascii("a\n..b\n.\nrest")], { lenientLineEnds: true });
    expect(lenient.done).toBe(true);
    expect(text(lenient.body)).toBe("a\n.b\n");
    expect(text(lenient.rest)).toBe("rest");
  });

  it("refuses a body over the size limit with a typed error", () => {
    const decoder = new MultilineDecoder({ maxSize: 4 });
    expect(() => decoder.push(ascii("12345\r\n.\r\n"))).toThrowError(
      expect.objectContaining({ code: "POP3_MESSAGE_TOO_LARGE" }),
    );
  });

  it("gives the same body for every single split point and for one byte at a time", () => {
    const body = ascii(".\r\n..\r\n.x\r\n\r\n.\rz\r\nend");
    const wire = concat([encodeMultiline(body), ascii("NEXT")]);
    const expected = normalizeReference(body);
    for (let cut = 0; cut <= wire.length; cut++) {
      const result = decodeAll(splitAt(wire, [cut]));
      expect(result.body).toEqual(expected);
      expect(text(result.rest)).toBe("NEXT");
    }
    const bytewise = decodeAll([...wire].map((b) => Uint8Array.of(b)));
    expect(bytewise.body).toEqual(expected);
    expect(text(bytewise.rest)).toBe("NEXT");
  });

  test.prop([messageBytes(120), fc.boolean()])(
    "gives the same events for every split point of short inputs, with a second cut near it",
    (body, lenient) => {
      const wire = concat([encodeMultiline(body), ascii("+OK")]);
      const expected = decodeAll([wire], { lenientLineEnds: lenient });
      for (let a = 0; a <= wire.length; a += 1) {
        const b = Math.min(wire.length, a + 1 + ((a * 7) % 5));
        const result = decodeAll(splitAt(wire, [a, b]), { lenientLineEnds: lenient });
        expect(result).toEqual(expected);
      }
      if (!lenient) expect(expected.body).toEqual(normalizeReference(body));
    },
  );

  test.prop([messageBytes(4000), fc.array(fc.nat({ max: 4100 }), { maxLength: 40 })])(
    "gives the same body for random splits of long inputs",
    (body, cuts) => {
      const wire = encodeMultiline(body);
      expect(decodeAll(splitAt(wire, cuts)).body).toEqual(normalizeReference(body));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat({ max: 400 })), fc.boolean()])(
    "on random garbage gives data or the typed error, never anything else",
    (garbage, cuts, lenient) => {
      try {
        const result = decodeAll(splitAt(garbage, cuts), {
          lenientLineEnds: lenient,
          maxSize: 200,
        });
        expect(result.body.length).toBeLessThanOrEqual(garbage.length);
      } catch (error) {
        expect(error).toBeInstanceOf(RemoteProtocolError);
      }
    },
  );
});
