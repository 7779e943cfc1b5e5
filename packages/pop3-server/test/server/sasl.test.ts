import { cramMd5Client, Secret } from "pop3-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Authenticator } from "../../src/index";
import { RawClient, startServer, type TestServer, USERS } from "../support";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
let t: TestServer;
afterEach(() => t.close());

describe("SASL (RFC 5034)", () => {
  beforeEach(async () => {
    t = await startServer();
  });

  it("a bare AUTH lists the mechanisms, as Dovecot does", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command("AUTH")).toMatch(/^\+OK/);
    expect(await client.lines()).toEqual(["PLAIN", "LOGIN", "CRAM-MD5"]);
    client.close();
  });

  it("PLAIN with an initial response, and with `=` then a challenge", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command(`AUTH PLAIN ${b64("\0alice\0wonderland")}`)).toMatch(
      /^\+OK alice has/,
    );
    client.close();

    const other = await RawClient.connect(t.port);
    await other.line();
    expect(await other.command("AUTH PLAIN")).toBe("+ ");
    expect(await other.command(b64("\0bob\0builder"))).toMatch(/^\+OK bob has/);
    other.close();

    const empty = await RawClient.connect(t.port);
    await empty.line();
    expect(await empty.command("AUTH PLAIN =")).toMatch(/^-ERR \[AUTH\]/);
    empty.close();
  });

  it("refuses PLAIN with someone else's authorization identity", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command(`AUTH PLAIN ${b64("bob\0alice\0wonderland")}`)).toMatch(
      /^-ERR \[AUTH\]/,
    );
    client.close();
  });

  it("LOGIN asks for the user name and the password", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command("AUTH LOGIN")).toBe(`+ ${b64("Username:")}`);
    expect(await client.command(b64("alice"))).toBe(`+ ${b64("Password:")}`);
    expect(await client.command(b64("wonderland"))).toMatch(/^\+OK/);
    client.close();
  });

  it("CRAM-MD5 works with a shared-secret user source", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    const line = (await client.command("AUTH CRAM-MD5")) ?? "";
    const challenge = Buffer.from(line.slice(2), "base64");
    expect(challenge.toString()).toMatch(/^<[^@]+@test\.local>$/);
    const mechanism = cramMd5Client({ username: "alice", password: new Secret(USERS.alice) });
    expect(
      await client.command(Buffer.from(mechanism.respond(challenge)).toString("base64")),
    ).toMatch(/^\+OK/);
    client.close();
  });

  it("`*` cancels with -ERR, bad base64 is refused, and the session goes on", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    await client.command("AUTH LOGIN");
    expect(await client.command("*")).toMatch(/^-ERR/);
    await client.command("AUTH LOGIN");
    expect(await client.command("@@@not base64")).toMatch(/^-ERR/);
    expect(await client.command(`AUTH PLAIN ${b64("\0alice\0wonderland")}`)).toMatch(/^\+OK/);
    expect(await client.command("AUTH PLAIN")).toMatch(/^-ERR/);
    client.close();
  });

  it("an unknown mechanism gets -ERR", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command("AUTH GSSAPI")).toMatch(/^-ERR/);
    client.close();
  });
});

describe("OAuth 2.0 (XOAUTH2, OAUTHBEARER)", () => {
  const tokens: Authenticator = {
    verifyPassword: async () => ({ ok: false }),
    verifyToken: async (user, token) =>
      token.reveal() === "good-token" ? { ok: true, user: user ?? "alice" } : { ok: false },
  };

  beforeEach(async () => {
    t = await startServer({ auth: tokens });
  });

  it("are offered only with a token hook, and CRAM-MD5 and APOP only with shared secrets", async () => {
    const client = await RawClient.connect(t.port);
    const greeting = await client.line();
    expect(greeting).not.toMatch(/</);
    await client.command("CAPA");
    expect((await client.lines()).find((l) => l.startsWith("SASL"))).toBe(
      "SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER",
    );
    client.close();
  });

  it("XOAUTH2 logs in with a good token; a bad one gets the JSON error challenge, then -ERR", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    const good = b64("user=alice\x01auth=Bearer good-token\x01\x01");
    expect(await client.command(`AUTH XOAUTH2 ${good}`)).toMatch(/^\+OK/);
    client.close();

    const bad = await RawClient.connect(t.port);
    await bad.line();
    const reply =
      (await bad.command(`AUTH XOAUTH2 ${b64("user=alice\x01auth=Bearer bad\x01\x01")}`)) ?? "";
    expect(reply).toMatch(/^\+ /);
    expect(JSON.parse(Buffer.from(reply.slice(2), "base64").toString())).toMatchObject({
      status: "401",
    });
    expect(await bad.command("")).toMatch(/^-ERR \[AUTH\]/);
    bad.close();
  });

  it("OAUTHBEARER logs in with a good token", async () => {
    const client = await RawClient.connect(t.port);
    await client.line();
    const response = b64(
      "n,a=alice,\x01host=localhost\x01port=110\x01auth=Bearer good-token\x01\x01",
    );
    expect(await client.command(`AUTH OAUTHBEARER ${response}`)).toMatch(/^\+OK alice/);
    client.close();
  });
});
