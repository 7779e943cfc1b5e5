import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import {
  createSaslServerExchange,
  encodeBase64,
  xoauth2Client,
  xoauth2ErrorChallenge,
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
  visibleAscii,
} from "./support";

// Google's published example (developers.google.com/gmail/imap/xoauth2-protocol).
const GOOGLE_TOKEN = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg";
const GOOGLE_BASE64 =
  "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";

const server = () => createSaslServerExchange("XOAUTH2", {})!;
const client = (token = GOOGLE_TOKEN) =>
  xoauth2Client({ username: "someuser@example.com", token: new Secret(token) });

describe("XOAUTH2 client", () => {
  it("builds Google's example", () => {
    const mechanism = client();
    expect(mechanism.name).toBe("XOAUTH2");
    const message = mechanism.initialResponse()!;
    expect(text(message)).toBe(`user=someuser@example.com\x01auth=Bearer ${GOOGLE_TOKEN}\x01\x01`);
    expect(encodeBase64(message)).toBe(GOOGLE_BASE64);
  });

  it("sends the message for an empty challenge, an empty response for the JSON error, then stops", () => {
    const mechanism = client();
    expect(encodeBase64(mechanism.respond(new Uint8Array(0)))).toBe(GOOGLE_BASE64);
    const error = utf8('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}');
    expect(mechanism.respond(error)).toEqual(new Uint8Array(0));
    expectPop3Error(() => mechanism.respond(error), RemoteProtocolError, "POP3_SASL", [
      GOOGLE_TOKEN,
    ]);
  });

  it("answers the JSON error after an inline initial response", () => {
    const mechanism = client();
    mechanism.initialResponse();
    expect(mechanism.respond(utf8('{"status":"400"}'))).toEqual(new Uint8Array(0));
  });

  const refused: [string, () => unknown][] = [
    [
      "\\x01 in the username",
      () => xoauth2Client({ username: "a\x01b", token: new Secret("tok-S3CRET") }),
    ],
    ["an empty username", () => xoauth2Client({ username: "", token: new Secret("tok-S3CRET") })],
    ["an empty token", () => xoauth2Client({ username: "u", token: new Secret("") })],
    ["\\x01 in the token", () => client("tok-S3CRET\x01auth=Bearer x")],
    ["a space in the token", () => client("tok-S3CRET more")],
    ["a newline in the token", () => client("tok-S3CRET\r\n")],
    ["non-ASCII in the token", () => client("tok-S3CRET\u00e9")],
  ];
  it.each(refused)("refuses %s with POP3_BAD_ARGUMENT, without the token", (_, make) => {
    expectPop3Error(make, LocalProtocolError, "POP3_BAD_ARGUMENT", ["S3CRET"]);
  });
});

describe("XOAUTH2 server", () => {
  it("parses Google's example as the initial response", () => {
    const exchange = server();
    expect(exchange.mechanism).toBe("XOAUTH2");
    const credentials = expectDone(exchange.start(client().initialResponse()));
    expect(credentials.mechanism).toBe("XOAUTH2");
    if (credentials.mechanism !== "XOAUTH2") return;
    expect(credentials.username).toBe("someuser@example.com");
    expect(credentials.token.reveal()).toBe(GOOGLE_TOKEN);
    expect(JSON.stringify(credentials)).not.toContain(GOOGLE_TOKEN);
  });

  it("asks with an empty challenge when there is no initial response", () => {
    const exchange = server();
    expect(expectChallenge(exchange.start(undefined))).toEqual(new Uint8Array(0));
    expect(expectDone(exchange.step(client().initialResponse()!)).mechanism).toBe("XOAUTH2");
  });

  it("accepts the scheme in any case and ignores unknown keys", () => {
    const credentials = expectDone(
      server().start(utf8("user=u@example.com\x01auth=bearer tok\x01extra=1\x01\x01")),
    );
    expect(credentials).toMatchObject({ mechanism: "XOAUTH2", username: "u@example.com" });
  });

  const malformed: [string, string][] = [
    ["no auth", "user=u\x01\x01"],
    ["no user", "auth=Bearer tok-S3CRET\x01\x01"],
    ["an empty user", "user=\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["another scheme", "user=u\x01auth=Basic tok-S3CRET\x01\x01"],
    ["Bearer without a token", "user=u\x01auth=Bearer \x01\x01"],
    ["Bearer without a space", "user=u\x01auth=Bearertok-S3CRET\x01\x01"],
    ["a token with a space", "user=u\x01auth=Bearer tok-S3CRET x\x01\x01"],
    ["a missing final \\x01", "user=u\x01auth=Bearer tok-S3CRET\x01"],
    ["no separators at all", "user=u auth=Bearer tok-S3CRET"],
    ["an extra \\x01", "user=u\x01auth=Bearer tok-S3CRET\x01\x01\x01"],
    ["a pair without =", "user=u\x01authBearer tok-S3CRET\x01\x01"],
    ["a duplicate key", "user=u\x01auth=Bearer tok-S3CRET\x01auth=Bearer y\x01\x01"],
    ["the lone \\x01 of an aborted exchange", "\x01"],
    ["nothing", ""],
  ];
  it.each(malformed)("fails on %s, without echoing the token", (_, message) => {
    expectFailed(server().start(utf8(message)), ["S3CRET"]);
  });

  it("fails on invalid UTF-8", () => {
    expectFailed(
      server().start(Uint8Array.of(...utf8("user="), 0xfe, ...utf8("\x01auth=Bearer t\x01\x01"))),
    );
  });

  it("builds the JSON error challenge", () => {
    const challenge = xoauth2ErrorChallenge({
      status: 401,
      schemes: "bearer mac",
      scope: "https://mail.google.com/",
    });
    expect(text(challenge)).toBe(
      '{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}',
    );
    expect(text(xoauth2ErrorChallenge({ status: "400" }))).toBe('{"status":"400"}');
    expect(JSON.parse(text(xoauth2ErrorChallenge({ status: "400", scope: 'a"b\\c' })))).toEqual({
      status: "400",
      scope: 'a"b\\c',
    });
  });
});

describe("XOAUTH2 client against server", () => {
  test.prop([
    fc.string({ unit: "binary", minLength: 1 }).filter((s) => !s.includes("\x01")),
    visibleAscii(1),
    fc.boolean(),
  ])(
    "round-trips any Unicode user name without \\x01 and any visible-ASCII token",
    (username, token, inline) => {
      const mechanism = xoauth2Client({ username, token: new Secret(token) });
      const credentials = expectDone(runExchange(mechanism, server(), inline));
      if (credentials.mechanism !== "XOAUTH2") throw new Error("wrong mechanism");
      expect(credentials.username).toBe(username);
      expect(credentials.token.reveal()).toBe(token);
    },
  );
});
