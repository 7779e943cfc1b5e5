import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import {
  createSaslServerExchange,
  encodeBase64,
  oauthbearerClient,
  oauthbearerErrorChallenge,
  type SaslCredentials,
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

// RFC 7628 §4.1 (IMAP example; the SASL message does not depend on the protocol).
const RFC_TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
const RFC_INITIAL =
  "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
// RFC 7628 §4.3: the server's error challenge.
const RFC_ERROR =
  "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";

const server = () => createSaslServerExchange("OAUTHBEARER", {})!;
const rfcClient = () =>
  oauthbearerClient({
    username: "user@example.com",
    token: new Secret(RFC_TOKEN),
    host: "server.example.com",
    port: 143,
  });

type OauthbearerCredentials = Extract<SaslCredentials, { mechanism: "OAUTHBEARER" }>;
function parse(message: Uint8Array): OauthbearerCredentials {
  const credentials = expectDone(server().start(message));
  if (credentials.mechanism !== "OAUTHBEARER") throw new Error("wrong mechanism");
  return credentials;
}

describe("OAUTHBEARER client", () => {
  it("builds the RFC 7628 §4.1 initial response", () => {
    const mechanism = rfcClient();
    expect(mechanism.name).toBe("OAUTHBEARER");
    expect(encodeBase64(mechanism.initialResponse()!)).toBe(RFC_INITIAL);
  });

  it("answers the RFC 7628 §4.3 error challenge with a single ^A (AQ==), then stops", () => {
    const mechanism = rfcClient();
    mechanism.initialResponse();
    const error = Uint8Array.from(Buffer.from(RFC_ERROR, "base64"));
    expect(encodeBase64(mechanism.respond(error))).toBe("AQ==");
    expectPop3Error(() => mechanism.respond(error), RemoteProtocolError, "POP3_SASL", [RFC_TOKEN]);
  });

  it("sends the message for an empty challenge", () => {
    expect(encodeBase64(rfcClient().respond(new Uint8Array(0)))).toBe(RFC_INITIAL);
  });

  it("leaves out what is not given: n,, and no host or port", () => {
    const mechanism = oauthbearerClient({ token: new Secret("tok") });
    expect(text(mechanism.initialResponse()!)).toBe("n,,\x01auth=Bearer tok\x01\x01");
  });

  it("escapes , and = in the authorization identity (RFC 5801 saslname)", () => {
    const mechanism = oauthbearerClient({ username: "a,b=c=2C", token: new Secret("tok") });
    expect(text(mechanism.initialResponse()!)).toBe(
      "n,a=a=2Cb=3Dc=3D2C,\x01auth=Bearer tok\x01\x01",
    );
  });

  const refused: [string, () => unknown][] = [
    [
      "an empty username",
      () => oauthbearerClient({ username: "", token: new Secret("tok-S3CRET") }),
    ],
    [
      "\\x01 in the username",
      () => oauthbearerClient({ username: "a\x01", token: new Secret("tok-S3CRET") }),
    ],
    [
      "NUL in the username",
      () => oauthbearerClient({ username: "a\0", token: new Secret("tok-S3CRET") }),
    ],
    ["an empty token", () => oauthbearerClient({ token: new Secret("") })],
    ["\\x01 in the token", () => oauthbearerClient({ token: new Secret("tok-S3CRET\x01host=x") })],
    ["a space in the token", () => oauthbearerClient({ token: new Secret("tok-S3CRET x") })],
    ["an empty host", () => oauthbearerClient({ token: new Secret("tok-S3CRET"), host: "" })],
    [
      "\\x01 in the host",
      () => oauthbearerClient({ token: new Secret("tok-S3CRET"), host: "h\x01auth=x" }),
    ],
    ["port 0", () => oauthbearerClient({ token: new Secret("tok-S3CRET"), port: 0 })],
    ["port 65536", () => oauthbearerClient({ token: new Secret("tok-S3CRET"), port: 65536 })],
    ["a fractional port", () => oauthbearerClient({ token: new Secret("tok-S3CRET"), port: 1.5 })],
  ];
  it.each(refused)("refuses %s with POP3_BAD_ARGUMENT, without the token", (_, make) => {
    expectPop3Error(make, LocalProtocolError, "POP3_BAD_ARGUMENT", ["S3CRET"]);
  });
});

describe("OAUTHBEARER server", () => {
  it("parses the RFC 7628 §4.1 initial response", () => {
    const credentials = parse(Uint8Array.from(Buffer.from(RFC_INITIAL, "base64")));
    expect(credentials).toMatchObject({
      mechanism: "OAUTHBEARER",
      username: "user@example.com",
      host: "server.example.com",
      port: 143,
    });
    expect(credentials.token.reveal()).toBe(RFC_TOKEN);
    expect(JSON.stringify(credentials)).not.toContain(RFC_TOKEN);
  });

  it("asks with an empty challenge when there is no initial response", () => {
    const exchange = server();
    expect(exchange.mechanism).toBe("OAUTHBEARER");
    expect(expectChallenge(exchange.start(undefined))).toEqual(new Uint8Array(0));
    expect(expectDone(exchange.step(rfcClient().initialResponse()!)).mechanism).toBe("OAUTHBEARER");
  });

  it("leaves out absent fields rather than setting them to undefined", () => {
    const credentials = parse(utf8("n,,\x01auth=Bearer tok\x01\x01"));
    expect(Object.keys(credentials).sort()).toEqual(["mechanism", "token"]);
  });

  it("accepts y (client supports channel binding, server does not) and unknown keys", () => {
    const credentials = parse(utf8("y,a=u,\x01mfa=yes\x01auth=Bearer tok\x01\x01"));
    expect(credentials.username).toBe("u");
  });

  it("unescapes =2C and =3D", () => {
    expect(parse(utf8("n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01")).username).toBe("a,b=c");
  });

  it("builds the RFC 7628 §4.3 error challenge", () => {
    const challenge = oauthbearerErrorChallenge({
      status: "invalid_token",
      scope: "example_scope",
      openidConfiguration: "https://example.com/.well-known/openid-configuration",
    });
    expect(encodeBase64(challenge)).toBe(RFC_ERROR);
    expect(text(oauthbearerErrorChallenge({ status: "invalid_token" }))).toBe(
      '{"status":"invalid_token"}',
    );
  });

  const malformed: [string, string][] = [
    ["channel binding (p=)", "p=tls-unique,,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["the non-standard flag F", "F,n,,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["an unknown cb flag", "x,,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["no GS2 header", "\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["an unterminated header", "n,a=user"],
    ["an authzid without a=", "n,u=user,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["an empty saslname", "n,a=,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a bad saslname escape", "n,a=a=2Xb,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a raw = in the saslname", "n,a=a=b,\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["no ^A after the header", "n,,auth=Bearer tok-S3CRET\x01\x01"],
    ["no auth", "n,,\x01host=h\x01\x01"],
    ["only the header", "n,,\x01\x01"],
    ["another scheme", "n,,\x01auth=Basic tok-S3CRET\x01\x01"],
    ["an empty token", "n,,\x01auth=Bearer \x01\x01"],
    ["a missing final ^A", "n,,\x01auth=Bearer tok-S3CRET\x01"],
    ["a key with a digit", "n,,\x01k1=v\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a value with a control character", "n,,\x01host=a\x02b\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a value with non-ASCII", "n,,\x01host=h\u00e9\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["port 0", "n,,\x01port=0\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["port 65536", "n,,\x01port=65536\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a port with a leading zero", "n,,\x01port=0143\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["a non-numeric port", "n,,\x01port=imap\x01auth=Bearer tok-S3CRET\x01\x01"],
    ["the lone ^A of an aborted exchange", "\x01"],
    ["nothing", ""],
  ];
  it.each(malformed)("fails on %s, without echoing the token", (_, message) => {
    expectFailed(server().start(utf8(message)), ["S3CRET"]);
  });

  it("fails on invalid UTF-8 in the authorization identity", () => {
    expectFailed(
      server().start(Uint8Array.of(...utf8("n,a="), 0xc3, ...utf8(",\x01auth=Bearer t\x01\x01"))),
    );
  });

  it("accepts the largest port", () => {
    expect(parse(utf8("n,,\x01port=65535\x01auth=Bearer t\x01\x01")).port).toBe(65535);
  });
});

describe("OAUTHBEARER client against server", () => {
  const username = fc
    .string({ unit: "binary", minLength: 1 })
    .filter((s) => !s.includes("\0") && !s.includes("\x01"));
  // Bias towards the characters the saslname escaping exists for.
  const trickyUsername = fc.string({
    unit: fc.constantFrom(",", "=", "2", "C", "3", "D", "a", "\u00e9"),
    minLength: 1,
  });

  test.prop([
    fc.option(fc.oneof(username, trickyUsername), { nil: undefined }),
    visibleAscii(1),
    fc.option(visibleAscii(1), { nil: undefined }),
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    fc.boolean(),
  ])("round-trips every field the format allows", (user, token, host, port, inline) => {
    const mechanism = oauthbearerClient({
      token: new Secret(token),
      ...(user === undefined ? {} : { username: user }),
      ...(host === undefined ? {} : { host }),
      ...(port === undefined ? {} : { port }),
    });
    const credentials = expectDone(runExchange(mechanism, server(), inline));
    if (credentials.mechanism !== "OAUTHBEARER") throw new Error("wrong mechanism");
    expect(credentials.username).toBe(user);
    expect(credentials.token.reveal()).toBe(token);
    expect(credentials.host).toBe(host);
    expect(credentials.port).toBe(port);
  });
});
