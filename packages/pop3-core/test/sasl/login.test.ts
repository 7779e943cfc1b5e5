import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";
import {
  createSaslServerExchange,
  decodeBase64Strict,
  encodeBase64,
  LOGIN_PASSWORD_CHALLENGE,
  LOGIN_USERNAME_CHALLENGE,
  loginClient,
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

const server = () => createSaslServerExchange("LOGIN", {})!;
const field = fc.string({ unit: "binary", minLength: 1 }).filter((s) => !s.includes("\0"));

describe("LOGIN client", () => {
  it("has no initial response and answers user name, then password, whatever the prompts say", () => {
    const client = loginClient({ username: "tim", password: new Secret("tanstaaf-S3CRET") });
    expect(client.name).toBe("LOGIN");
    expect(client.initialResponse()).toBeUndefined();
    expect(text(client.respond(decodeBase64Strict("VXNlcm5hbWU6")))).toBe("tim");
    expect(text(client.respond(utf8("anything at all")))).toBe("tanstaaf-S3CRET");
  });

  it("answers the draft's User Name / Password prompts the same way", () => {
    const client = loginClient({ username: "tim", password: new Secret("tanstaaf-S3CRET") });
    expect(text(client.respond(utf8("User Name")))).toBe("tim");
    expect(text(client.respond(utf8("Password")))).toBe("tanstaaf-S3CRET");
  });

  it("refuses a third challenge", () => {
    const client = loginClient({ username: "tim", password: new Secret("tanstaaf-S3CRET") });
    client.respond(utf8("Username:"));
    client.respond(utf8("Password:"));
    expectPop3Error(() => client.respond(utf8("Again:")), RemoteProtocolError, "POP3_SASL", [
      "S3CRET",
    ]);
  });

  const refused: [string, () => unknown][] = [
    ["an empty username", () => loginClient({ username: "", password: new Secret("pw-S3CRET") })],
    ["an empty password", () => loginClient({ username: "tim", password: new Secret("") })],
    [
      "NUL in the password",
      () => loginClient({ username: "tim", password: new Secret("pw\0S3CRET") }),
    ],
    [
      "NUL in the username",
      () => loginClient({ username: "t\0m", password: new Secret("pw-S3CRET") }),
    ],
    [
      "a lone surrogate",
      () => loginClient({ username: "tim", password: new Secret("\udc00S3CRET") }),
    ],
  ];
  it.each(refused)("refuses %s with POP3_BAD_ARGUMENT, without the secret", (_, make) => {
    expectPop3Error(make, LocalProtocolError, "POP3_BAD_ARGUMENT", ["S3CRET"]);
  });
});

describe("LOGIN server", () => {
  it("prompts Username: then Password: (VXNlcm5hbWU6 / UGFzc3dvcmQ6 on the wire)", () => {
    const exchange = server();
    expect(exchange.mechanism).toBe("LOGIN");
    const first = expectChallenge(exchange.start(undefined));
    expect(text(first)).toBe(LOGIN_USERNAME_CHALLENGE);
    expect(encodeBase64(first)).toBe("VXNlcm5hbWU6");
    const second = expectChallenge(exchange.step(utf8("tim")));
    expect(encodeBase64(second)).toBe("UGFzc3dvcmQ6");
    expect(text(second)).toBe(LOGIN_PASSWORD_CHALLENGE);
    const credentials = expectDone(exchange.step(utf8("tanstaaf")));
    expect(credentials).toMatchObject({ mechanism: "LOGIN", username: "tim" });
    expect(credentials.mechanism === "LOGIN" && credentials.password.reveal()).toBe("tanstaaf");
    expect(JSON.stringify(credentials)).not.toContain("tanstaaf");
  });

  it("takes an initial response as the user name", () => {
    const exchange = server();
    expect(text(expectChallenge(exchange.start(utf8("tim"))))).toBe("Password:");
    const credentials = expectDone(exchange.step(utf8("tanstaaf")));
    expect(credentials).toMatchObject({ mechanism: "LOGIN", username: "tim" });
  });

  it("fails on an empty initial response", () => {
    expectFailed(server().start(new Uint8Array(0)));
  });

  const badPasswords: [string, Uint8Array][] = [
    ["an empty password", new Uint8Array(0)],
    ["invalid UTF-8", Uint8Array.of(0x53, 0x33, 0x43, 0x52, 0x45, 0x54, 0xc0, 0xaf)],
    ["NUL", utf8("S3CRET\0")],
  ];
  it.each(badPasswords)("fails on %s as the password, without echoing it", (_, response) => {
    const exchange = server();
    exchange.start(undefined);
    exchange.step(utf8("tim"));
    expectFailed(exchange.step(response), ["S3CRET"]);
  });

  it.each(badPasswords)("fails on %s as the user name", (_, response) => {
    const exchange = server();
    exchange.start(undefined);
    expectFailed(exchange.step(response), ["S3CRET"]);
  });
});

describe("LOGIN client against server", () => {
  test.prop([field, field, fc.boolean()])(
    "round-trips any NUL-free Unicode user name and password",
    (username, password, inline) => {
      const client = loginClient({ username, password: new Secret(password) });
      const credentials = expectDone(runExchange(client, server(), inline));
      expect(credentials.mechanism).toBe("LOGIN");
      if (credentials.mechanism !== "LOGIN") return;
      expect(credentials.username).toBe(username);
      expect(credentials.password.reveal()).toBe(password);
    },
  );
});
