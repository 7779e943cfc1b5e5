import { connect as netConnect } from "node:net";
import { connect, type TraceEvent } from "pop3-client";
import { createServer, MemoryStore, type Pop3Server } from "pop3-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** A server whose users log in with OAuth bearer tokens only (plus alice/wonderland by password). */
let server: Pop3Server;
let port = 0;
const store = new MemoryStore();

beforeAll(async () => {
  store.addMessage("alice", "Subject: token\r\n\r\nhello\r\n");
  server = createServer({
    store,
    plain: { host: "127.0.0.1", port: 0 },
    allowCleartextAuth: true,
    auth: {
      verifyPassword: async (user, password) =>
        user === "alice" && password.reveal() === "wonderland" ? { ok: true, user } : { ok: false },
      verifyToken: async (user, token) =>
        token.reveal() === "fresh-token" ? { ok: true, user: user ?? "alice" } : { ok: false },
    },
    limits: { failedLoginDelayMs: 0 },
  });
  port = (await server.listen()).plain?.port as number;
});
afterAll(() => server.close());

describe("pop3-client login and connection options", () => {
  it.each(["OAUTHBEARER", "XOAUTH2"] as const)(
    "logs in with %s, asking a callback for the token",
    async (mechanism) => {
      let calls = 0;
      const trace: TraceEvent[] = [];
      await using client = await connect({
        host: "127.0.0.1",
        port,
        tls: "none",
        trace: (e) => trace.push(e),
      });
      await client.login({
        user: "alice",
        mechanism,
        token: async () => {
          calls += 1;
          return "fresh-token";
        },
      });
      expect(calls).toBe(1);
      expect(await client.stat()).toMatchObject({ count: 1 });
      expect(JSON.stringify(trace)).not.toContain("fresh-token");
    },
  );

  it("picks OAUTHBEARER by itself for a token, and a refused token is -ERR [AUTH]", async () => {
    await using client = await connect({ host: "127.0.0.1", port, tls: "none" });
    const error = await client
      .login({ user: "alice", token: "stale-token" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_SERVER_ERROR", responseCode: "AUTH" });
    expect(String((error as Error).message)).toContain("OAUTHBEARER");
    expect(String((error as Error).message)).not.toContain("stale-token");
  });

  it("uses a caller-supplied dialer (a proxy, say) and a caller-supplied socket", async () => {
    let dialled = "";
    await using viaDialer = await connect({
      host: "pop3.example.invalid",
      port: 110,
      tls: "none",
      dialer: async ({ host, port: p }) => {
        dialled = `${host}:${p}`;
        return netConnect({ host: "127.0.0.1", port });
      },
    });
    expect(dialled).toBe("pop3.example.invalid:110");
    await viaDialer.login({ user: "alice", password: "wonderland" });

    const socket = netConnect({ host: "127.0.0.1", port });
    await new Promise((resolve) => socket.once("connect", resolve));
    await using viaSocket = await connect({ host: "127.0.0.1", tls: "none", socket });
    expect(viaSocket.greeting.ok).toBe(true);
  });

  it("UTF8 and LANG (RFC 6856)", async () => {
    await using client = await connect({ host: "127.0.0.1", port, tls: "none" });
    await client.utf8();
    expect(await client.lang()).toEqual([{ tag: "en", description: "English" }]);
    expect(await client.lang("en")).toEqual([{ tag: "en", description: "English selected" }]);
  });

  it("times out connecting to an address that never answers, and closes an idle connection", async () => {
    const blackhole = await connect({
      host: "127.0.0.1",
      tls: "none",
      timeouts: { connect: 200 },
      dialer: ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("dial timed out"))),
        ),
    }).catch((e: unknown) => e);
    expect(blackhole).toMatchObject({ code: "POP3_TIMEOUT" });

    const idle = await connect({ host: "127.0.0.1", port, tls: "none", timeouts: { idle: 200 } });
    await new Promise((resolve) => setTimeout(resolve, 400));
    await expect(idle.capabilities()).rejects.toMatchObject({ code: "POP3_TIMEOUT" });
  });
});
