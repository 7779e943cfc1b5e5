import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { createTestServer, type TestServer } from "../src/index";

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A raw POP3 connection: lines as they arrive, nothing interpreted. */
class Lines {
  readonly socket: Socket;
  #buffered = "";
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#buffered += chunk.toString("latin1");
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("error", () => {});
  }

  static async open(port: number): Promise<Lines> {
    const socket = netConnect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Lines(socket);
  }

  /** The next line, or `undefined` when the server closed first. */
  async line(): Promise<string | undefined> {
    for (;;) {
      const end = this.#buffered.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#buffered.slice(0, end);
        this.#buffered = this.#buffered.slice(end + 2);
        return line;
      }
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  async command(line: string): Promise<string | undefined> {
    this.socket.write(`${line}\r\n`);
    return this.line();
  }
}

/** One connection, one USER/PASS: the answer to PASS. */
async function login(port: number, password: string): Promise<string | undefined> {
  const lines = await Lines.open(port);
  try {
    expect(await lines.line()).toMatch(/^\+OK/);
    expect(await lines.command("USER alice")).toMatch(/^\+OK/);
    return await lines.command(`PASS ${password}`);
  } finally {
    lines.socket.destroy();
  }
}

describe("the test server's limits", () => {
  it("defaults the protections against hostile clients out of a test's way, each overridable", async () => {
    t = await createTestServer({ server: { limits: { maxFailedLoginsPerUser: 7 } } });
    expect(t.server.options.limits).toMatchObject({
      failedLoginDelayMs: 0,
      maxFailedLoginsPerAddress: 1_000_000,
      maxFailedLoginsPerUser: 7,
      maxConnectionsPerAddress: 1_000_000,
      maxPreLoginConnectionsPerAddress: 1_000_000,
      shutdownGraceMs: 500,
      closeTimeoutMs: 1000,
      // pop3-server's own defaults stay where a test server has no reason to differ.
      maxConnections: 1000,
      maxAuthFailures: 3,
    });
  });

  it("lets a test fail logins from 127.0.0.1 past pop3-server's caps (10 per address, 20 per user)", async () => {
    t = await createTestServer({ users: { alice: "wonderland" } });
    for (let i = 0; i < 25; i++) {
      expect(await login(t.port, `guess-${i}`)).toBe("-ERR [AUTH] authentication failed");
    }
    expect(await login(t.port, "wonderland")).toMatch(/^\+OK/);
  });

  it("still caps failed logins when a test sets the cap", async () => {
    t = await createTestServer({
      users: { alice: "wonderland" },
      server: { limits: { maxFailedLoginsPerAddress: 2 } },
    });
    expect(await login(t.port, "guess-1")).toMatch(/^-ERR \[AUTH\]/);
    expect(await login(t.port, "guess-2")).toMatch(/^-ERR \[AUTH\]/);
    expect(await login(t.port, "wonderland")).toBe(
      "-ERR [SYS/TEMP] too many failed logins, try later",
    );
  });

  it("greets many connections from 127.0.0.1 at once, not logged in (pop3-server allows 10)", async () => {
    t = await createTestServer();
    const all = await Promise.all(Array.from({ length: 30 }, () => Lines.open(t?.port ?? 0)));
    try {
      const greetings = await Promise.all(all.map((c) => c.line()));
      expect(greetings.filter((g) => g?.startsWith("+OK"))).toHaveLength(30);
    } finally {
      for (const c of all) c.socket.destroy();
    }
  });

  it("still refuses connections over a pre-login share a test sets", async () => {
    t = await createTestServer({ server: { limits: { maxPreLoginConnectionsPerAddress: 2 } } });
    const first = await Lines.open(t.directPort);
    const second = await Lines.open(t.directPort);
    try {
      expect(await first.line()).toMatch(/^\+OK/);
      expect(await second.line()).toMatch(/^\+OK/);
      const third = await Lines.open(t.directPort);
      expect(await third.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
      third.socket.destroy();
    } finally {
      first.socket.destroy();
      second.socket.destroy();
    }
  });
});

describe("closing a test server with a client still connected", () => {
  /**
   * A TLS client on the implicit-TLS port (the fault proxy, which drops its connections at once,
   * is not in front of it) that logs in, asks for a message bigger than the socket buffers hold
   * and never reads it: its session can neither finish nor be told to end.
   */
  async function stuckClient(server: TestServer): Promise<Socket> {
    server.addUser("alice", "wonderland");
    server.addMessage("alice", `Subject: big\r\n\r\n${"x".repeat(78)}\r\n`.repeat(200_000));
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: server.tlsPort as number,
      ca: server.certificate?.cert,
    });
    socket.on("error", () => {});
    const lines = new Lines(socket);
    await new Promise<void>((resolve) => socket.once("secureConnect", () => resolve()));
    expect(await lines.line()).toMatch(/^\+OK/);
    expect(await lines.command("USER alice")).toMatch(/^\+OK/);
    expect(await lines.command("PASS wonderland")).toMatch(/^\+OK/);
    socket.pause();
    socket.write("RETR 1\r\n");
    return socket;
  }

  async function timeClose(server: TestServer): Promise<number> {
    const started = performance.now();
    await server.close();
    return performance.now() - started;
  }

  it("resolves well within vitest's 5 s default test timeout", async () => {
    t = await createTestServer({ tls: true });
    const client = await stuckClient(t);
    try {
      // pop3-server's defaults (shutdownGraceMs 10 s + closeTimeoutMs 2 s) would take 12 s.
      expect(await timeClose(t)).toBeLessThan(4000);
      expect(t.stats()).toMatchObject({ activeConnections: 0 });
    } finally {
      client.destroy();
    }
  }, 30_000);

  it("waits for the grace a test sets: the client really held its session open", async () => {
    t = await createTestServer({ tls: true, server: { limits: { shutdownGraceMs: 1500 } } });
    const client = await stuckClient(t);
    try {
      expect(await timeClose(t)).toBeGreaterThanOrEqual(1400);
    } finally {
      client.destroy();
    }
  }, 30_000);
});
