import { createHash, createHmac } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import {
  type CramMd5Credentials,
  cramMd5Client,
  createSaslServerExchange,
  decodeBase64Strict,
  encodeBase64,
  verifyCramMd5,
} from "../../src/sasl";
import { Secret } from "../../src/secret";
import {
  expectChallenge,
  expectDone,
  expectFailed,
  expectPop3Error,
  runExchange,
  text,
  utf8,
} from "./support";

// RFC 2195 §2.
const RFC_CHALLENGE = "<1896.697170952@postoffice.reston.mci.net>";
const RFC_CHALLENGE_BASE64 = "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
const RFC_RESPONSE_BASE64 = "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw";

const server = (challenge = RFC_CHALLENGE) =>
  createSaslServerExchange("CRAM-MD5", { cramMd5Challenge: challenge })!;

function cramCredentials(response: Uint8Array, challenge = RFC_CHALLENGE): CramMd5Credentials {
  const exchange = server(challenge);
  exchange.start(undefined);
  const credentials = expectDone(exchange.step(response));
  if (credentials.mechanism !== "CRAM-MD5") throw new Error(`got ${credentials.mechanism}`);
  return credentials;
}

describe("CRAM-MD5 client", () => {
  it("answers the RFC 2195 example", () => {
    const client = cramMd5Client({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    expect(client.name).toBe("CRAM-MD5");
    expect(client.initialResponse()).toBeUndefined();
    const response = client.respond(decodeBase64Strict(RFC_CHALLENGE_BASE64));
    expect(text(response)).toBe("tim b913a602c7eda7a495b4e6e7334d3890");
    expect(encodeBase64(response)).toBe(RFC_RESPONSE_BASE64);
  });

  it("keys the HMAC with the UTF-8 password, like node:crypto", () => {
    const client = cramMd5Client({ username: "jos\u00e9", password: new Secret("p\u00e4ss") });
    const expected = createHmac("md5", Buffer.from("p\u00e4ss", "utf8"))
      .update("<1.2@h>")
      .digest("hex");
    expect(text(client.respond(utf8("<1.2@h>")))).toBe(`jos\u00e9 ${expected}`);
  });

  it("refuses an empty challenge and a second challenge", () => {
    const empty = cramMd5Client({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    expectPop3Error(() => empty.respond(new Uint8Array(0)), RemoteProtocolError, "POP3_SASL");

    const twice = cramMd5Client({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    twice.respond(utf8(RFC_CHALLENGE));
    expectPop3Error(() => twice.respond(utf8(RFC_CHALLENGE)), RemoteProtocolError, "POP3_SASL", [
      "tanstaaf",
    ]);
  });

  it.each([
    ["an empty username", () => cramMd5Client({ username: "", password: new Secret("pw-S3CRET") })],
    [
      "a lone surrogate in the password",
      () => cramMd5Client({ username: "tim", password: new Secret("S3CRET\ud83d") }),
    ],
  ])("refuses %s with POP3_BAD_ARGUMENT, without the secret", (_, make) => {
    expectPop3Error(make, LocalProtocolError, "POP3_BAD_ARGUMENT", ["S3CRET"]);
  });
});

describe("CRAM-MD5 server", () => {
  it("sends the configured challenge and parses the RFC 2195 answer", () => {
    const exchange = server();
    expect(exchange.mechanism).toBe("CRAM-MD5");
    expect(encodeBase64(expectChallenge(exchange.start(undefined)))).toBe(RFC_CHALLENGE_BASE64);
    const credentials = expectDone(exchange.step(decodeBase64Strict(RFC_RESPONSE_BASE64)));
    expect(credentials).toEqual({
      mechanism: "CRAM-MD5",
      username: "tim",
      challenge: RFC_CHALLENGE,
      digest: "b913a602c7eda7a495b4e6e7334d3890",
    });
  });

  it("verifyCramMd5 accepts the right password only", () => {
    const credentials = cramCredentials(decodeBase64Strict(RFC_RESPONSE_BASE64));
    expect(verifyCramMd5(credentials, "tanstaaftanstaaf")).toBe(true);
    expect(verifyCramMd5(credentials, new Secret("tanstaaftanstaaf"))).toBe(true);
    expect(verifyCramMd5(credentials, "tanstaaftanstaaF")).toBe(false);
    expect(verifyCramMd5(credentials, "")).toBe(false);
    expect(
      verifyCramMd5({ ...credentials, challenge: "<1896.697170953@x>" }, "tanstaaftanstaaf"),
    ).toBe(false);
  });

  it("accepts upper-case hex and reports it lower-cased", () => {
    const credentials = cramCredentials(utf8("tim B913A602C7EDA7A495B4E6E7334D3890"));
    expect(credentials.digest).toBe("b913a602c7eda7a495b4e6e7334d3890");
    expect(verifyCramMd5(credentials, "tanstaaftanstaaf")).toBe(true);
  });

  it("splits at the last space, so user names may contain spaces", () => {
    const credentials = cramCredentials(utf8("tim the enchanter b913a602c7eda7a495b4e6e7334d3890"));
    expect(credentials.username).toBe("tim the enchanter");
  });

  it("fails when the client sends an initial response", () => {
    expectFailed(server().start(utf8("tim b913a602c7eda7a495b4e6e7334d3890")));
    expectFailed(server().start(new Uint8Array(0)));
  });

  it.each([
    ["no space", "timb913a602c7eda7a495b4e6e7334d3890"],
    ["an empty user name", " b913a602c7eda7a495b4e6e7334d3890"],
    ["31 hex digits", "tim b913a602c7eda7a495b4e6e7334d389"],
    ["33 hex digits", "tim b913a602c7eda7a495b4e6e7334d38900"],
    ["a non-hex digit", "tim g913a602c7eda7a495b4e6e7334d3890"],
    ["a trailing space", "tim b913a602c7eda7a495b4e6e7334d3890 "],
    ["nothing", ""],
  ])("fails on %s", (_, response) => {
    const exchange = server();
    exchange.start(undefined);
    expectFailed(exchange.step(utf8(response)));
  });

  it("fails on invalid UTF-8", () => {
    const exchange = server();
    exchange.start(undefined);
    expectFailed(
      exchange.step(Uint8Array.of(0xff, 0x20, ...utf8("b913a602c7eda7a495b4e6e7334d3890"))),
    );
  });

  it.each([
    ["no challenge", {}],
    ["an empty challenge", { cramMd5Challenge: "" }],
    ["a challenge without angle brackets", { cramMd5Challenge: "1896.697170952@host" }],
    ["a challenge with a space", { cramMd5Challenge: "<1896 697170952@host>" }],
  ])("refuses to start with %s", (_, options) => {
    expectPop3Error(
      () => createSaslServerExchange("CRAM-MD5", options),
      LocalProtocolError,
      "POP3_BAD_ARGUMENT",
    );
  });
});

const LONG_PASSWORD = `${"x".repeat(64)}44270`;

describe("CRAM-MD5 client against server", () => {
  const challenge = fc
    .tuple(fc.nat(), fc.nat(), fc.domain())
    .map(([pid, clock, host]) => `<${pid}.${clock}@${host}>`);

  test.prop([
    fc.string({ unit: "binary", minLength: 1 }),
    fc.string({ unit: "binary" }),
    fc.string({ unit: "binary" }),
    challenge,
  ])(
    "round-trips any Unicode user name; only the same password verifies",
    (username, password, other, cramChallenge) => {
      const client = cramMd5Client({ username, password: new Secret(password) });
      const exchange = server(cramChallenge);
      const credentials = expectDone(runExchange(client, exchange, true));
      if (credentials.mechanism !== "CRAM-MD5") throw new Error("wrong mechanism");
      expect(credentials.username).toBe(username);
      expect(credentials.challenge).toBe(cramChallenge);
      expect(verifyCramMd5(credentials, password)).toBe(true);
      // Different strings are not always different HMAC keys ("\u0000" and "" are one key, found
      // with seed 434122670), so the other password must verify exactly when its key is the same.
      expect(verifyCramMd5(credentials, other)).toBe(sameHmacMd5Key(password, other));
    },
  );

  it.each([
    ["a NUL and nothing", "\u0000", ""],
    ["a password and the same with trailing NULs", "tanstaaf", "tanstaaf\u0000\u0000"],
    // A password over 64 bytes is keyed by its MD5 digest; this one's digest is all ASCII, so a
    // string can spell it (found by search: the first suffix whose digest bytes are all < 0x80).
    ["a long password and its MD5 digest", LONG_PASSWORD, md5Ascii(LONG_PASSWORD)],
  ])("accepts %s: HMAC makes them the same key (RFC 2104 §2)", (_, password, other) => {
    expect(sameHmacMd5Key(password, other)).toBe(true);
    const client = cramMd5Client({ username: "tim", password: new Secret(password) });
    const credentials = expectDone(runExchange(client, server(), true));
    if (credentials.mechanism !== "CRAM-MD5") throw new Error("wrong mechanism");
    expect(verifyCramMd5(credentials, other)).toBe(true);
  });
});

/**
 * HMAC (RFC 2104 §2) hashes a key longer than the 64-byte MD5 block, then pads it with zero bytes
 * to 64: two passwords are the same key exactly when those padded blocks are equal. Written from
 * the RFC with node:crypto, not with the code under test.
 */
function hmacMd5KeyBlock(password: string): Buffer {
  let key = Buffer.from(password, "utf8");
  if (key.length > 64) key = createHash("md5").update(key).digest();
  return Buffer.concat([key, Buffer.alloc(64 - key.length)]);
}

function sameHmacMd5Key(a: string, b: string): boolean {
  return hmacMd5KeyBlock(a).equals(hmacMd5KeyBlock(b));
}

function md5Ascii(long: string): string {
  const digest = createHash("md5").update(long, "utf8").digest();
  if (digest.some((byte) => byte >= 0x80)) throw new Error("this digest is not ASCII");
  return digest.toString("latin1");
}
