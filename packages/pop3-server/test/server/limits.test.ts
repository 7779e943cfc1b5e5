import { afterEach, describe, expect, it } from "vitest";
import { createServer, MemoryStore, staticUsers } from "../../src/index";
import { RawClient, startServer, type TestServer, USERS } from "../support";

let t: TestServer | undefined;

/** Waits for the server side to catch up with what the client already saw (its close). */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
afterEach(() => t?.close());

describe("limits and abuse", () => {
  it("answers an over-long command line with -ERR and keeps reading (≥ 255 octets accepted)", async () => {
    t = await startServer({ limits: { maxLineLength: 255 } });
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command(`USER ${"a".repeat(248)}`)).toMatch(/^\+OK/);
    expect(await client.command(`USER ${"a".repeat(300)}`)).toMatch(/^-ERR/);
    expect(await client.command("CAPA")).toMatch(/^\+OK/);
    client.close();
  });

  it("holds AUTH lines and SASL responses to the SASL line limit", async () => {
    t = await startServer({ limits: { maxLineLength: 255, maxSaslLineLength: 512 } });
    const client = await RawClient.connect(t.port);
    await client.line();
    const long = Buffer.alloc(600, "a").toString("base64");
    expect(await client.command(`AUTH PLAIN ${long}`)).toMatch(/^-ERR/);
    expect(await client.command("AUTH PLAIN")).toBe("+ ");
    expect(await client.command(long)).toMatch(/^-ERR/);
    // A token-sized initial response under the SASL limit passes the 255-octet command limit.
    const fits = Buffer.from(`\0alice\0wonderland${" ".repeat(200)}`).toString("base64");
    expect(await client.command(`AUTH PLAIN ${fits}`)).toMatch(/^-ERR \[AUTH\]/);
    client.close();
  });

  it("hangs up after too many bad commands", async () => {
    t = await startServer({ limits: { maxBadCommands: 3 } });
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.command("BAD1")).toMatch(/^-ERR/);
    expect(await client.command("STAT")).toMatch(/^-ERR/);
    expect(await client.command("RETR x")).toMatch(/^-ERR/);
    expect(await client.line()).toMatch(/^-ERR too many bad commands/);
    await client.closed();
  });

  it("hangs up after too many commands before login", async () => {
    t = await startServer({ limits: { maxCommandsBeforeLogin: 3 } });
    const client = await RawClient.connect(t.port);
    await client.line();
    for (let i = 0; i < 3; i++) {
      expect(await client.command("CAPA")).toMatch(/^\+OK/);
      await client.lines();
    }
    expect(await client.command("CAPA")).toMatch(/^-ERR too many commands before login/);
    await client.closed();
  });

  it("refuses connections past the per-address limit, and past the total once all are logged in", async () => {
    t = await startServer({ limits: { maxConnectionsPerAddress: 2, maxConnections: 2 } });
    const a = await RawClient.connect(t.port);
    const b = await RawClient.connect(t.port);
    const c = await RawClient.connect(t.port);
    expect(await a.line()).toMatch(/^\+OK/);
    expect(await b.line()).toMatch(/^\+OK/);
    expect(await c.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
    await c.closed();
    await a.command("USER alice");
    expect(await a.command(`PASS ${USERS.alice}`)).toMatch(/^\+OK/);
    await b.command("USER bob");
    expect(await b.command(`PASS ${USERS.bob}`)).toMatch(/^\+OK/);
    // Full, and nobody waiting to log in whose place a newcomer could take: refused.
    const other = await RawClient.connect(t.port, { localAddress: "127.0.0.2" });
    expect(await other.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
    expect(t.server.stats().connectionsRejected).toBe(2);
    for (const client of [a, b, other]) client.close();
  });

  it("when full, a newcomer takes the place of the oldest connection that has not logged in", async () => {
    t = await startServer({ limits: { maxConnections: 3 } });
    const loggedIn = await RawClient.connect(t.port);
    await loggedIn.login();
    const oldest = await RawClient.connect(t.port, { localAddress: "127.0.0.2" });
    expect(await oldest.line()).toMatch(/^\+OK/);
    const younger = await RawClient.connect(t.port, { localAddress: "127.0.0.3" });
    expect(await younger.line()).toMatch(/^\+OK/);
    const newcomer = await RawClient.connect(t.port, { localAddress: "127.0.0.4" });
    expect(await newcomer.line()).toMatch(/^\+OK/);
    expect(await oldest.line()).toBe("-ERR [SYS/TEMP] server busy, try later");
    await oldest.closed();
    // The others are untouched: the logged-in session and the younger one still answer.
    expect(await loggedIn.command("NOOP")).toMatch(/^\+OK/);
    expect(await younger.command("NOOP")).toMatch(/^-ERR/);
    await newcomer.command("USER bob");
    expect(await newcomer.command(`PASS ${USERS.bob}`)).toMatch(/^\+OK/);
    expect(t.server.stats()).toMatchObject({ activeConnections: 3, connectionsRejected: 0 });
    for (const client of [loggedIn, younger, newcomer]) client.close();
  });

  it("gives one address only its share of the connections that have not logged in", async () => {
    t = await startServer({ limits: { maxPreLoginConnectionsPerAddress: 2 } });
    const first = await RawClient.connect(t.port);
    const second = await RawClient.connect(t.port);
    expect(await first.line()).toMatch(/^\+OK/);
    expect(await second.line()).toMatch(/^\+OK/);
    const third = await RawClient.connect(t.port);
    expect(await third.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
    // Another address is not affected, and a login frees a share of the first address.
    const elsewhere = await RawClient.connect(t.port, { localAddress: "127.0.0.2" });
    expect(await elsewhere.line()).toMatch(/^\+OK/);
    await first.command("USER alice");
    expect(await first.command(`PASS ${USERS.alice}`)).toMatch(/^\+OK/);
    const fourth = await RawClient.connect(t.port);
    expect(await fourth.line()).toMatch(/^\+OK/);
    for (const client of [first, second, elsewhere, fourth]) client.close();
  });

  it("closes a client that has not logged in by the absolute deadline, however it trickles", async () => {
    t = await startServer({ limits: { loginTimeoutMs: 1500, preLoginTimeoutMs: 1000 } });
    const client = await RawClient.connect(t.port);
    expect(await client.line()).toMatch(/^\+OK/);
    // One byte every 200 ms keeps the idle timer from ever firing; never a whole line.
    const trickle = setInterval(() => client.send("U"), 200);
    try {
      expect(await client.line(20_000)).toBe("-ERR login took too long, closing");
      await client.closed();
    } finally {
      clearInterval(trickle);
    }
    await until(() => t?.server.stats().activeConnections === 0);
  });

  it("delays answers to failed logins, more with each failure of the address", async () => {
    t = await startServer({
      limits: { failedLoginDelayMs: 150, maxFailedLoginDelayMs: 1000, maxAuthFailures: 10 },
    });
    const client = await RawClient.connect(t.port);
    await client.line();
    const attempt = async () => {
      await client.command("USER alice");
      const start = performance.now();
      const reply = await client.command("PASS wrong");
      return { reply, ms: performance.now() - start };
    };
    const first = await attempt();
    const second = await attempt();
    const third = await attempt();
    expect(first.reply).toMatch(/^-ERR \[AUTH\]/);
    // Lower bounds only: the delay is a floor the server must wait, never a speed claim.
    expect(second.ms).toBeGreaterThanOrEqual(140);
    expect(third.ms).toBeGreaterThanOrEqual(290);
    // The right password from the same address is slowed too, so timing does not tell.
    await client.command("USER alice");
    const start = performance.now();
    expect(await client.command("PASS wonderland")).toMatch(/^\+OK/);
    expect(performance.now() - start).toBeGreaterThanOrEqual(500);
    client.close();
  });

  it("logs out an idle client before login without touching anything", async () => {
    t = await startServer({ limits: { preLoginTimeoutMs: 1000 } });
    const client = await RawClient.connect(t.port);
    await client.line();
    expect(await client.line(5000)).toBe("-ERR disconnected for inactivity");
    await client.closed();
  });

  it("refuses an idle timeout after login below the RFC's 10 minutes", () => {
    expect(() =>
      createServer({
        store: new MemoryStore(),
        auth: staticUsers({ a: "b" }),
        plain: { port: 0 },
        limits: { idleTimeoutMs: 60_000 },
      }),
    ).toThrowError(/limits\.idleTimeoutMs/);
  });

  it("drops a client that stops reading and releases its maildrop", async () => {
    t = await startServer({ limits: { writeTimeoutMs: 1000 } });
    t.store.addMessage("alice", Buffer.alloc(30 * 1024 * 1024, "x\r\n"));
    const client = await RawClient.connect(t.port);
    await client.login();
    client.socket.pause();
    client.send("RETR 1\r\n");
    // The server gives up on the stuck client; its lock is free for the next session.
    const next = await RawClient.connect(t.port);
    await next.line();
    let reply: string | undefined;
    for (let i = 0; i < 100; i++) {
      await next.command("USER alice");
      reply = await next.command("PASS wonderland");
      if (reply?.startsWith("+OK")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toMatch(/^\+OK/);
    next.close();
    client.close();
  });

  it("enforces LOGIN-DELAY per user and advertises it", async () => {
    t = await startServer({ loginDelaySeconds: 60, expire: 30 });
    const first = await RawClient.connect(t.port);
    await first.line();
    await first.command("CAPA");
    const caps = await first.lines();
    expect(caps).toContain("LOGIN-DELAY 60");
    expect(caps).toContain("EXPIRE 30");
    await first.command("USER alice");
    expect(await first.command("PASS wonderland")).toMatch(/^\+OK/);
    await first.command("QUIT");
    await first.closed();
    const second = await RawClient.connect(t.port);
    await second.line();
    await second.command("USER alice");
    expect(await second.command("PASS wonderland")).toMatch(/^-ERR \[LOGIN-DELAY\]/);
    await second.command("USER bob");
    expect(await second.command("PASS builder")).toMatch(/^\+OK/);
    second.close();
  });
});

describe("configuration", () => {
  it("lists every problem in one readable ConfigError", () => {
    let message = "";
    try {
      createServer({ store: {} as never, auth: {} as never, limits: { maxLineLength: 100 } });
    } catch (error) {
      message = (error as Error).message;
      expect(error).toMatchObject({ code: "POP3_CONFIG" });
    }
    expect(message).toContain("store: store must implement openMaildrop(user)");
    expect(message).toContain("auth: auth must implement verifyPassword");
    expect(message).toContain("limits.maxLineLength");
    expect(message).toContain("give at least one listener");
  });

  it("needs tls for the implicit-TLS listener", () => {
    expect(() =>
      createServer({
        store: new MemoryStore(),
        auth: staticUsers({ a: "b" }),
        implicitTls: { port: 0 },
      }),
    ).toThrowError(/implicitTls needs tls/);
  });
});

describe("shutdown and stats", () => {
  it("close() ends sessions after the grace period without deleting, and counts everything", async () => {
    t = await startServer({ limits: { shutdownGraceMs: 300 } });
    t.store.addMessage("alice", "Subject: keep\r\n\r\nme\r\n");
    const client = await RawClient.connect(t.port);
    await client.login();
    expect(await client.command("DELE 1")).toMatch(/^\+OK/);
    const stats = t.server.stats();
    expect(stats).toMatchObject({ connections: 1, activeConnections: 1, sessions: 1 });
    expect(stats.commands).toBeGreaterThanOrEqual(3);
    expect(stats.bytesSent).toBeGreaterThan(0);
    expect(stats.bytesReceived).toBeGreaterThan(0);
    await t.server.close();
    expect(await client.line()).toBe("-ERR [SYS/TEMP] server shutting down");
    await client.closed();
    expect(t.store.messages("alice")).toHaveLength(1);
    expect(t.server.stats().activeConnections).toBe(0);
    t = undefined;
  });
});
