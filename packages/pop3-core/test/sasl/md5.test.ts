import { createHash, createHmac, timingSafeEqual as nodeTimingSafeEqual } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { hmacMd5, md5, timingSafeEqual, toHex } from "../../src/sasl";
import { numRuns } from "../property-runs";
import { utf8 } from "./support";

const nodeMd5 = (bytes: Uint8Array): string => createHash("md5").update(bytes).digest("hex");
const nodeHmacMd5 = (key: Uint8Array, message: Uint8Array): string =>
  createHmac("md5", key).update(message).digest("hex");
const repeat = (byte: number, length: number): Uint8Array => new Uint8Array(length).fill(byte);

describe("md5", () => {
  // RFC 1321 appendix A.5.
  const suite: [string, string][] = [
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    [
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
      "d174ab98d277d9f5a5611c2c9f419d9f",
    ],
    [
      "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
      "57edf4a22be3c955ac49da2e2107b67a",
    ],
  ];
  it.each(suite)("RFC 1321 A.5: MD5(%j) = %s", (input, digest) => {
    expect(toHex(md5(utf8(input)))).toBe(digest);
  });

  it("returns 16 bytes", () => {
    expect(md5(utf8("abc"))).toBeInstanceOf(Uint8Array);
    expect(md5(utf8("abc")).length).toBe(16);
  });

  // Lengths around the padding boundaries: 55 fits one block, 56 spills into a second one.
  it.each([0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 4096, 10_000])(
    "matches node:crypto for %i bytes",
    (length) => {
      const bytes = new Uint8Array(length).map((_, i) => i * 131 + 7);
      expect(toHex(md5(bytes))).toBe(nodeMd5(bytes));
    },
  );

  test.prop([fc.uint8Array({ maxLength: 300 })], { numRuns: numRuns(500) })(
    "matches node:crypto on random input",
    (bytes) => {
      expect(toHex(md5(bytes))).toBe(nodeMd5(bytes));
    },
  );

  test.prop([
    fc.integer({ min: 50, max: 70 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  ])("matches node:crypto around the 56- and 64-byte boundaries", (bytes) => {
    expect(toHex(md5(bytes))).toBe(nodeMd5(bytes));
  });

  test.prop([fc.uint8Array({ minLength: 2000, maxLength: 9000 })], { numRuns: numRuns(30) })(
    "matches node:crypto on inputs of several KB",
    (bytes) => {
      expect(toHex(md5(bytes))).toBe(nodeMd5(bytes));
    },
  );

  it("does not modify its input", () => {
    const bytes = utf8("message digest");
    const copy = bytes.slice();
    md5(bytes);
    expect(bytes).toEqual(copy);
  });

  it("hashes a subarray by its own bytes, not its backing buffer", () => {
    const backing = utf8("xxabcxx");
    expect(toHex(md5(backing.subarray(2, 5)))).toBe("900150983cd24fb0d6963f7d28e17f72");
  });
});

describe("hmacMd5", () => {
  // RFC 2202 §2 (cases 1-3 are also the RFC 2104 appendix examples).
  const cases: [string, Uint8Array, Uint8Array, string][] = [
    ["1", repeat(0x0b, 16), utf8("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"],
    ["2", utf8("Jefe"), utf8("what do ya want for nothing?"), "750c783e6ab0b503eaa86e310a5db738"],
    ["3", repeat(0xaa, 16), repeat(0xdd, 50), "56be34521d144c88dbb8c733f0e8b3f6"],
    [
      "4",
      Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      repeat(0xcd, 50),
      "697eaf0aca3a3aea3a75164746ffaa79",
    ],
    ["5", repeat(0x0c, 16), utf8("Test With Truncation"), "56461ef2342edc00f9bab995690efd4c"],
    [
      "6",
      repeat(0xaa, 80),
      utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
      "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    ],
    [
      "7",
      repeat(0xaa, 80),
      utf8("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
      "6f630fad67cda0ee1fb1f562db3aa53e",
    ],
  ];
  it.each(cases)("RFC 2202 test case %s", (_, key, data, digest) => {
    expect(toHex(hmacMd5(key, data))).toBe(digest);
  });

  test.prop([fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 })], {
    numRuns: numRuns(500),
  })("matches node:crypto for random keys (shorter and longer than a block)", (key, message) => {
    expect(toHex(hmacMd5(key, message))).toBe(nodeHmacMd5(key, message));
  });

  it.each([0, 63, 64, 65])("matches node:crypto for a %i-byte key", (length) => {
    const key = new Uint8Array(length).map((_, i) => i + 1);
    const message = utf8("<1896.697170952@postoffice.reston.mci.net>");
    expect(toHex(hmacMd5(key, message))).toBe(nodeHmacMd5(key, message));
  });
});

describe("toHex", () => {
  it("writes two lowercase digits per byte", () => {
    expect(toHex(Uint8Array.of(0x00, 0x0f, 0x10, 0xab, 0xff))).toBe("000f10abff");
    expect(toHex(new Uint8Array(0))).toBe("");
  });

  test.prop([fc.uint8Array({ maxLength: 64 })])("matches Buffer#toString('hex')", (bytes) => {
    expect(toHex(bytes)).toBe(Buffer.from(bytes).toString("hex"));
  });
});

describe("timingSafeEqual", () => {
  it("compares contents", () => {
    expect(timingSafeEqual(utf8("abc"), utf8("abc"))).toBe(true);
    expect(timingSafeEqual(utf8("abc"), utf8("abd"))).toBe(false);
    expect(timingSafeEqual(utf8("xbc"), utf8("abc"))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it("returns false for different lengths, including a prefix", () => {
    expect(timingSafeEqual(utf8("abc"), utf8("abcd"))).toBe(false);
    expect(timingSafeEqual(utf8("abcd"), utf8("abc"))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(0), utf8("a"))).toBe(false);
  });

  test.prop([fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })])(
    "agrees with node:crypto on equal-length inputs and with length inequality otherwise",
    (a, b) => {
      const expected = a.length === b.length && nodeTimingSafeEqual(a, b);
      expect(timingSafeEqual(a, b)).toBe(expected);
    },
  );

  test.prop([
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    fc.nat(),
    fc.integer({ min: 1, max: 255 }),
  ])("detects a single changed byte anywhere", (a, position, delta) => {
    const b = a.slice();
    const index = position % b.length;
    b[index] = (b[index]! + delta) & 0xff;
    expect(timingSafeEqual(a, b)).toBe(false);
    expect(timingSafeEqual(a, a.slice())).toBe(true);
  });
});
