import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import {
  createSaslServerExchange,
  decodeBase64Strict,
  encodeBase64,
  plainClient,
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

const server = () => createSaslServerExchange("PLAIN", {})!;
const noNul = (minLength: number) =>
  fc.string({ unit: "binary", minLength }).filter((s) => !s.includes("\0"));

describe("PLAIN client", () => {
  it("builds the RFC 4616 §4 messages", () => {
    const tim = plainClient({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    expect(tim.name).toBe("PLAIN");
    expect(text(tim.initialResponse()!)).toBe("\0tim\0tanstaaftanstaaf");

    const kurt = plainClient({
      username: "Kurt",
      password: new Secret("xipj3plmq"),
      authzid: "Ursel",
    });
    expect(encodeBase64(kurt.initialResponse()!)).toBe("VXJzZWwAS3VydAB4aXBqM3BsbXE=");
  });

  it("builds the RFC 5034 §6 example response", () => {
    const client = plainClient({ username: "test", password: new Secret("test"), authzid: "test" });
    expect(encodeBase64(client.initialResponse()!)).toBe("dGVzdAB0ZXN0AHRlc3Q=");
  });

  it("encodes non-ASCII as UTF-8", () => {
    const client = plainClient({ username: "jos\u00e9", password: new Secret("\u{1f511}") });
    expect(client.initialResponse()).toEqual(
      Uint8Array.of(0, 0x6a, 0x6f, 0x73, 0xc3, 0xa9, 0, 0xf0, 0x9f, 0x94, 0x91),
    );
  });

  it("answers an empty challenge with the message, once", () => {
    const client = plainClient({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    expect(text(client.respond(new Uint8Array(0)))).toBe("\0tim\0tanstaaftanstaaf");
    expectPop3Error(() => client.respond(new Uint8Array(0)), RemoteProtocolError, "POP3_SASL", [
      "tanstaaf",
    ]);
  });

  it("refuses a non-empty challenge", () => {
    const client = plainClient({ username: "tim", password: new Secret("tanstaaftanstaaf") });
    expectPop3Error(() => client.respond(utf8("hello")), RemoteProtocolError, "POP3_SASL", [
      "tanstaaf",
    ]);
  });

  const refused: [string, () => unknown][] = [
    [
      "NUL in the password",
      () => plainClient({ username: "u", password: new Secret("pa\0ss-w0rd-S3CRET") }),
    ],
    [
      "NUL in the username",
      () => plainClient({ username: "u\0x", password: new Secret("pw-S3CRET") }),
    ],
    [
      "NUL in the authzid",
      () => plainClient({ username: "u", password: new Secret("pw-S3CRET"), authzid: "a\0" }),
    ],
    ["an empty username", () => plainClient({ username: "", password: new Secret("pw-S3CRET") })],
    ["an empty password", () => plainClient({ username: "u", password: new Secret("") })],
    [
      "a lone surrogate in the password",
      () => plainClient({ username: "u", password: new Secret("pw-S3CRET\ud800") }),
    ],
  ];
  it.each(refused)("refuses %s with POP3_BAD_ARGUMENT, without the secret", (_, make) => {
    expectPop3Error(make, LocalProtocolError, "POP3_BAD_ARGUMENT", ["S3CRET", "pa\0ss"]);
  });
});

describe("PLAIN server", () => {
  it("sends an empty challenge without an initial response (RFC 5034 §6)", () => {
    const exchange = server();
    expect(exchange.mechanism).toBe("PLAIN");
    expect(expectChallenge(exchange.start(undefined))).toEqual(new Uint8Array(0));
    const credentials = expectDone(exchange.step(decodeBase64Strict("dGVzdAB0ZXN0AHRlc3Q=")));
    expect(credentials).toMatchObject({ mechanism: "PLAIN", authzid: "test", username: "test" });
    expect(credentials.mechanism === "PLAIN" && credentials.password.reveal()).toBe("test");
  });

  it("takes the message as the initial response", () => {
    const credentials = expectDone(server().start(utf8("\0tim\0tanstaaftanstaaf")));
    expect(credentials.mechanism).toBe("PLAIN");
    if (credentials.mechanism !== "PLAIN") return;
    expect(credentials.authzid).toBe("");
    expect(credentials.username).toBe("tim");
    expect(credentials.password).toBeInstanceOf(Secret);
    expect(credentials.password.reveal()).toBe("tanstaaftanstaaf");
    expect(JSON.stringify(credentials)).not.toContain("tanstaaf");
  });

  const malformed: [string, Uint8Array][] = [
    ["the empty initial response", new Uint8Array(0)],
    ["one NUL", utf8("tim\0tanstaaf-S3CRET")],
    ["no NUL", utf8("tanstaaf-S3CRET")],
    ["three NULs", utf8("\0tim\0tanstaaf-S3CRET\0")],
    ["an empty authcid", utf8("admin\0\0tanstaaf-S3CRET")],
    ["an empty password", utf8("\0tim\0")],
    ["invalid UTF-8", Uint8Array.of(0, 0x74, 0, 0xff, 0x53, 0x33, 0x43, 0x52, 0x45, 0x54)],
    ["a truncated UTF-8 sequence", Uint8Array.of(0, 0x74, 0, 0x53, 0x33, 0xc3)],
  ];
  it.each(malformed)("fails on %s, without echoing it", (_, message) => {
    expectFailed(server().start(message), ["S3CRET", "tanstaaf"]);
  });

  it("fails the same way when the bad message answers the empty challenge", () => {
    const exchange = server();
    exchange.start(undefined);
    expectFailed(exchange.step(utf8("tim\0tanstaaf")), ["tanstaaf"]);
  });
});

describe("PLAIN client against server", () => {
  test.prop([noNul(1), noNul(1), fc.option(noNul(0), { nil: undefined }), fc.boolean()])(
    "round-trips any NUL-free Unicode identity and password",
    (username, password, authzid, inline) => {
      const client = plainClient({
        username,
        password: new Secret(password),
        ...(authzid === undefined ? {} : { authzid }),
      });
      const credentials = expectDone(runExchange(client, server(), inline));
      expect(credentials.mechanism).toBe("PLAIN");
      if (credentials.mechanism !== "PLAIN") return;
      expect(credentials.username).toBe(username);
      expect(credentials.authzid).toBe(authzid ?? "");
      expect(credentials.password.reveal()).toBe(password);
    },
  );
});
