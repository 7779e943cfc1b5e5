import { createHash } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { apopDigest, verifyApopDigest } from "../../src/sasl";
import { Secret } from "../../src/secret";

// RFC 1939 §7.
const TIMESTAMP = "<1896.697170952@dbc.mtview.ca.us>";
const DIGEST = "c4c9334bac560ecc979e58001b3e22fb";

describe("apopDigest", () => {
  it("computes the RFC 1939 example", () => {
    expect(apopDigest(TIMESTAMP, "tanstaaf")).toBe(DIGEST);
    expect(apopDigest(TIMESTAMP, new Secret("tanstaaf"))).toBe(DIGEST);
  });

  it("hashes the timestamp with its angle brackets", () => {
    expect(apopDigest("1896.697170952@dbc.mtview.ca.us", "tanstaaf")).not.toBe(DIGEST);
  });

  test.prop([fc.string({ unit: "binary" }), fc.string({ unit: "binary" })])(
    "is the hex MD5 of the UTF-8 of timestamp + secret",
    (timestamp, secret) => {
      const expected = createHash("md5").update(`${timestamp}${secret}`, "utf8").digest("hex");
      expect(apopDigest(timestamp, secret)).toBe(expected);
    },
  );
});

describe("verifyApopDigest", () => {
  it("accepts the right digest, in either hex case", () => {
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", DIGEST)).toBe(true);
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", DIGEST.toUpperCase())).toBe(true);
    expect(verifyApopDigest(TIMESTAMP, new Secret("tanstaaf"), DIGEST)).toBe(true);
  });

  it("rejects a wrong secret, timestamp or digest", () => {
    expect(verifyApopDigest(TIMESTAMP, "tanstaaF", DIGEST)).toBe(false);
    expect(verifyApopDigest("<1896.697170953@dbc.mtview.ca.us>", "tanstaaf", DIGEST)).toBe(false);
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", `${DIGEST.slice(0, 31)}0`)).toBe(false);
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", DIGEST.slice(0, 31))).toBe(false);
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", `${DIGEST}0`)).toBe(false);
    expect(verifyApopDigest(TIMESTAMP, "tanstaaf", "")).toBe(false);
  });

  test.prop([fc.string(), fc.string(), fc.string()])(
    "accepts only the digest of that secret",
    (timestamp, secret, other) => {
      const digest = apopDigest(timestamp, secret);
      expect(verifyApopDigest(timestamp, secret, digest)).toBe(true);
      expect(verifyApopDigest(timestamp, secret, digest.toUpperCase())).toBe(true);
      // Unlike HMAC keys (see cram-md5.test.ts), different secrets here are different MD5 inputs:
      // the digest covers the whole UTF-8 of timestamp + secret, nothing padded or trimmed, and
      // UTF-8 is one-to-one on well-formed strings. fc.string() makes no lone surrogates, which
      // the encoder would turn into U+FFFD, making "\ud800" and "\ufffd" the same secret.
      if (other !== secret) expect(verifyApopDigest(timestamp, other, digest)).toBe(false);
    },
  );
});
