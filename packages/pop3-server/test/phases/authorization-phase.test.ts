import { apopDigest, encodeBase64, parseCommand } from "pop3-core";
import { afterEach, describe, expect, it } from "vitest";
import { staticUsers } from "../../src/auth/static-users";
import type { Authenticator } from "../../src/auth/types";
import { AuthorizationPhase, type LoggedIn } from "../../src/authorization-phase";
import type { ServerContext } from "../../src/context";
import type { ServerObserver } from "../../src/observer";
import { CLEARTEXT_REFUSED } from "../../src/policy";
import { certificate } from "../support";
import { MemoryHost, memoryContext, USERS } from "./memory-host";

// The AUTHORIZATION phase driven without a socket: commands in, the host's record out.

const contexts: ServerContext[] = [];
afterEach(async () => {
  for (const context of contexts.splice(0)) await context.hashPool.close();
});

function setup(...args: Parameters<typeof memoryContext>) {
  const made = memoryContext(...args);
  contexts.push(made.context);
  const host = new MemoryHost(made.context);
  return { ...made, host, phase: new AuthorizationPhase(host) };
}

const command = (line: string) => parseCommand(line);
const base64 = (text: string) => encodeBase64(new TextEncoder().encode(text));

describe("AuthorizationPhase", () => {
  it("logs in with USER/PASS and hands over the open, locked maildrop", async () => {
    const { phase, host, store, context } = setup({ allowCleartextAuth: true });
    store.addMessage("alice", "Subject: a\r\n\r\nhello\r\n");
    expect(phase.command(command("USER alice"))).toBeUndefined();
    expect(host.take()).toEqual([{ type: "reply", reply: { ok: true, text: "send PASS" } }]);

    const login = (await phase.command(command("PASS wonderland"))) as LoggedIn;
    expect(login.user).toBe("alice");
    expect(login.mailbox.stat()).toEqual({ count: 1, size: 21 });
    expect(store.isLocked("alice")).toBe(true);
    expect(host.take()).toEqual([
      { type: "reply", reply: { ok: true, text: "alice has 1 messages (21 octets)" } },
    ]);
    expect(context.stats.authFailures).toBe(0);
    await login.mailbox.maildrop.release();
  });

  it("refuses USER without TLS unless cleartext is allowed, and takes it under TLS", () => {
    const { phase, host } = setup();
    phase.command(command("USER alice"));
    expect(host.take()).toEqual([{ type: "reply", reply: CLEARTEXT_REFUSED }]);
    host.tls = true;
    phase.command(command("USER alice"));
    expect(host.take()).toEqual([{ type: "reply", reply: { ok: true, text: "send PASS" } }]);
  });

  it("answers a wrong password with [AUTH] and closes after maxAuthFailures", async () => {
    const { phase, host, store, context } = setup({
      allowCleartextAuth: true,
      limits: { maxAuthFailures: 2 },
    });
    const failed = {
      type: "reply",
      reply: { ok: false, code: "AUTH", text: "authentication failed" },
    };
    phase.command(command("USER alice"));
    expect(await phase.command(command("PASS nope"))).toBeUndefined();
    expect(host.take()).toEqual([expect.anything(), failed]);
    phase.command(command("USER alice"));
    await phase.command(command("PASS still-wrong"));
    expect(host.take()).toEqual([expect.anything(), failed, { type: "end" }]);
    expect(context.stats.authFailures).toBe(2);
    expect(store.isLocked("alice")).toBe(false);
  });

  it("answers [IN-USE] when another session holds the maildrop", async () => {
    const { phase, host, store } = setup({ allowCleartextAuth: true });
    const holder = await store.openMaildrop("alice");
    phase.command(command("USER alice"));
    expect(await phase.command(command("PASS wonderland"))).toBeUndefined();
    expect(host.take().at(-1)).toEqual({
      type: "reply",
      reply: { ok: false, code: "IN-USE", text: "maildrop already locked by another session" },
    });
    await holder.release();
  });

  it("checks an APOP digest against the greeting's timestamp", async () => {
    const { phase, host } = setup();
    const greeting = phase.greeting();
    expect(greeting.apopTimestamp).toMatch(/^<\d+\.[0-9a-f]+\.\d+@test\.local>$/);
    const timestamp = greeting.apopTimestamp as string;
    expect(
      await phase.command(command(`APOP alice ${apopDigest(timestamp, "nope")}`)),
    ).toBeUndefined();
    expect(host.take()).toEqual([
      { type: "reply", reply: { ok: false, code: "AUTH", text: "authentication failed" } },
    ]);
    const login = await phase.command(command(`APOP alice ${apopDigest(timestamp, USERS.alice)}`));
    expect(login?.user).toBe("alice");
    await login?.mailbox.maildrop.release();
  });

  it("offers no APOP without a shared-secret source, and a new timestamp per connection", () => {
    const auth: Authenticator = { verifyPassword: async () => ({ ok: false }) };
    const { phase, host } = setup({ auth });
    expect(phase.greeting()).toEqual({ ok: true, text: "POP3 server ready" });
    phase.command(command(`APOP alice ${"0".repeat(32)}`));
    expect(host.take()).toEqual([
      { type: "reply", reply: { ok: false, text: "APOP not available" } },
    ]);
    const first = setup().phase.greeting().apopTimestamp;
    expect(setup().phase.greeting().apopTimestamp).not.toBe(first);
  });

  it("runs AUTH LOGIN as a challenge exchange and logs in on the last response", async () => {
    const { phase, host } = setup({ allowCleartextAuth: true });
    expect(await phase.command(command("AUTH LOGIN"))).toBeUndefined();
    expect(host.take()).toEqual([{ type: "challenge", bytes: Buffer.from("Username:") }]);
    expect(
      await phase.saslResponse({ type: "sasl-response", response: Buffer.from("alice") }),
    ).toBeUndefined();
    expect(host.take()).toEqual([{ type: "challenge", bytes: Buffer.from("Password:") }]);
    const login = await phase.saslResponse({
      type: "sasl-response",
      response: Buffer.from(USERS.alice),
    });
    expect(login?.user).toBe("alice");
    await login?.mailbox.maildrop.release();
  });

  it("takes AUTH PLAIN with an initial response; refuses it in cleartext with [AUTH]", async () => {
    const plain = `AUTH PLAIN ${base64(`\0bob\0${USERS.bob}`)}`;
    const refused = setup();
    expect(await refused.phase.command(command(plain))).toBeUndefined();
    expect(refused.host.take()).toEqual([{ type: "reply", reply: CLEARTEXT_REFUSED }]);

    const { phase } = setup({ allowCleartextAuth: true });
    const login = await phase.command(command(plain));
    expect(login?.user).toBe("bob");
    await login?.mailbox.maildrop.release();
  });

  it("lists only the mechanisms usable now for a bare AUTH", () => {
    const { phase, host } = setup();
    phase.command(command("AUTH"));
    expect(host.take()).toEqual([
      { type: "lines", reply: { ok: true, text: "SASL mechanisms follow" }, lines: ["CRAM-MD5"] },
    ]);
    host.tls = true;
    phase.command(command("AUTH"));
    expect(host.take()).toEqual([
      {
        type: "lines",
        reply: { ok: true, text: "SASL mechanisms follow" },
        lines: ["PLAIN", "LOGIN", "CRAM-MD5"],
      },
    ]);
  });

  it("answers a refused OAuth token with an error challenge, then -ERR [AUTH]", async () => {
    const auth: Authenticator = {
      ...staticUsers(USERS),
      verifyToken: async (user, token) =>
        token.reveal() === "good" && user !== undefined ? { ok: true, user } : { ok: false },
    };
    const { phase, host, context } = setup({ auth, allowCleartextAuth: true });
    const token = base64("user=alice\x01auth=Bearer bad\x01\x01");
    expect(await phase.command(command(`AUTH XOAUTH2 ${token}`))).toBeUndefined();
    const [challenge] = host.take();
    expect(challenge?.type).toBe("challenge");
    expect(context.stats.authFailures).toBe(0);
    await phase.saslResponse({ type: "sasl-response", response: new Uint8Array(0) });
    expect(host.take()).toEqual([
      { type: "reply", reply: { ok: false, code: "AUTH", text: "authentication failed" } },
    ]);
    expect(context.stats.authFailures).toBe(1);
  });

  it("answers STLS by configuration: +OK with TLS set up, -ERR without", () => {
    const { phase, host } = setup();
    phase.command(command("STLS"));
    expect(host.take()).toEqual([
      { type: "reply", reply: { ok: false, text: "STLS not available" } },
    ]);
    const withTls = setup({ tls: certificate() });
    withTls.phase.command(command("STLS"));
    expect(withTls.host.take()).toEqual([
      { type: "reply", reply: { ok: true, text: "begin TLS negotiation" } },
    ]);
  });

  it("answers LANG (RFC 6856): the listing, a pick by tag or `*`, a refusal", () => {
    const { phase, host } = setup();
    phase.command(command("LANG"));
    phase.command(command("LANG *"));
    phase.command(command("LANG en-GB"));
    phase.command(command("LANG fr"));
    expect(host.take()).toEqual([
      {
        type: "lines",
        reply: { ok: true, text: "language listing follows" },
        lines: ["en English"],
      },
      { type: "reply", reply: { ok: true, text: "en English selected" } },
      { type: "reply", reply: { ok: true, text: "en English selected" } },
      { type: "reply", reply: { ok: false, text: "unsupported language" } },
    ]);
  });

  it("closes after maxCommandsBeforeLogin commands", () => {
    const { phase, host } = setup({ limits: { maxCommandsBeforeLogin: 2 } });
    phase.command(command("CAPA"));
    phase.command(command("NOOP"));
    phase.command(command("UTF8"));
    const actions = host.take();
    expect(actions[0]?.type).toBe("lines");
    expect(actions.slice(1)).toEqual([
      { type: "reply", reply: { ok: false, text: "unknown command" } },
      { type: "bad-command" },
      { type: "close-with", reply: { ok: false, text: "too many commands before login" } },
    ]);
  });

  it("neither checks nor opens anything for a client that has left", async () => {
    let checks = 0;
    const auth: Authenticator = {
      verifyPassword: async (user) => {
        checks += 1;
        return { ok: true, user };
      },
    };
    const { phase, host, store } = setup({ auth, allowCleartextAuth: true });
    phase.command(command("USER alice"));
    host.take();
    host.leave();
    expect(await phase.command(command("PASS wonderland"))).toBeUndefined();
    expect(host.take()).toEqual([]);
    expect(checks).toBe(0);
    expect(store.isLocked("alice")).toBe(false);
  });

  it("reports each login to the observer once", async () => {
    const seen: string[] = [];
    const observer: ServerObserver = { onLogin: (m, r) => seen.push(`${m} ${r}`) };
    const { phase } = setup({ allowCleartextAuth: true, observer });
    phase.command(command("USER alice"));
    await phase.command(command("PASS bad"));
    phase.command(command("USER alice"));
    const login = await phase.command(command("PASS wonderland"));
    expect(seen).toEqual(["USER failed", "USER ok"]);
    await login?.mailbox.maildrop.release();
  });
});
