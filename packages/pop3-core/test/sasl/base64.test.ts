import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../../src/errors";
import { decodeBase64Strict, encodeBase64 } from "../../src/sasl";
import { numRuns } from "../property-runs";
import { expectPop3Error, utf8 } from "./support";

const nodeBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");

describe("encodeBase64 / decodeBase64Strict", () => {
  // RFC 4648 §10.
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "Zg=="],
    ["fo", "Zm8="],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="],
    ["foobar", "Zm9vYmFy"],
  ];
  it.each(vectors)("RFC 4648 test vector %j <-> %j", (plain, encoded) => {
    expect(encodeBase64(utf8(plain))).toBe(encoded);
    expect(decodeBase64Strict(encoded)).toEqual(utf8(plain));
  });

  it("uses the standard alphabet, including + and /", () => {
    expect(encodeBase64(Uint8Array.of(0xfb, 0xff, 0xbf))).toBe("+/+/");
    expect(decodeBase64Strict("+/+/")).toEqual(Uint8Array.of(0xfb, 0xff, 0xbf));
  });

  test.prop([fc.uint8Array({ maxLength: 600 })])("encodes like Node and decodes back", (bytes) => {
    const encoded = encodeBase64(bytes);
    expect(encoded).toBe(nodeBase64(bytes));
    expect(decodeBase64Strict(encoded)).toEqual(bytes);
  });

  // No test times the codec (a loaded CI machine made such limits flaky; speed belongs in
  // `pnpm bench`). Quadratic work would still show: on this 1 MB buffer it would run for hours.
  it("round-trips a 16 KB token and a 1 MB buffer exactly like Node", () => {
    for (const size of [16 * 1024, 16 * 1024 + 1, 16 * 1024 + 2, 1024 * 1024]) {
      const bytes = new Uint8Array(size).map((_, i) => i * 7919 + (i >> 8));
      const encoded = encodeBase64(bytes);
      expect(encoded === nodeBase64(bytes)).toBe(true);
      // Buffer#equals: a deep toEqual over a megabyte would dominate the test's run time.
      expect(Buffer.from(decodeBase64Strict(encoded)).equals(bytes)).toBe(true);
    }
  });

  const rejected: [string, string][] = [
    ["Zg", "missing padding"],
    ["Zg=", "length not a multiple of 4"],
    ["Zm9vYmFy=", "extra padding"],
    ["Zh==", "non-zero unused bits after one byte"],
    ["Zm9=", "non-zero unused bits after two bytes"],
    ["Z===", "three padding characters"],
    ["====", "only padding"],
    ["Zg==Zg==", "padding in the middle"],
    ["Zm=v", "padding inside a group"],
    [" Zg=", "leading whitespace"],
    ["Zg==\r\n", "trailing CRLF"],
    ["Zm9v\nYmFy", "embedded newline"],
    ["Zm-_", "URL-safe alphabet"],
    ["Zm9\u00fc", "non-ASCII character"],
    ["Zm9\u0000", "NUL"],
  ];
  it.each(rejected)("rejects %j (%s) with POP3_BAD_BASE64", (input) => {
    expectPop3Error(() => decodeBase64Strict(input), RemoteProtocolError, "POP3_BAD_BASE64");
  });

  it("decodes the empty string to empty bytes", () => {
    expect(decodeBase64Strict("")).toEqual(new Uint8Array(0));
  });

  it("never echoes the input in the error message (it may be a password)", () => {
    for (const input of [
      "c2VjcmV0LXB!c3N3b3Jk",
      "c2VjcmV0LXBhc3N3b3Jl\u00e9",
      "c2VjcmV0LXBhc3N3b3J=",
    ]) {
      expectPop3Error(() => decodeBase64Strict(input), RemoteProtocolError, "POP3_BAD_BASE64", [
        input,
        input.slice(0, 8),
      ]);
    }
  });

  // Strings over the alphabet plus "=" and a few intruders, so both outcomes are common.
  const base64ish = fc.string({
    unit: fc.constantFrom(
      ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
      " ",
      "-",
      "\n",
    ),
    maxLength: 24,
  });
  test.prop([base64ish], { numRuns: numRuns(2000) })(
    "accepts exactly the canonical spelling: decode either throws POP3_BAD_BASE64 or re-encodes to the input",
    (input) => {
      let decoded: Uint8Array;
      try {
        decoded = decodeBase64Strict(input);
      } catch (error) {
        expect(error).toBeInstanceOf(RemoteProtocolError);
        expect((error as RemoteProtocolError).code).toBe("POP3_BAD_BASE64");
        // Whatever Node makes of it, it is not the canonical encoding of those bytes.
        expect(nodeBase64(Buffer.from(input, "base64"))).not.toBe(input);
        return;
      }
      expect(encodeBase64(decoded)).toBe(input);
      expect(decoded).toEqual(new Uint8Array(Buffer.from(input, "base64")));
    },
  );
});
