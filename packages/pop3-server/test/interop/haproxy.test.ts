/**
 * pop3-server behind a real HAProxy with `send-proxy-v2`: plain and implicit TLS (passed through),
 * the server logs and limits the client's real address. HAProxy runs in the foreground with a
 * generated configuration and is stopped by its pid after the suite.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer as createNetServer, connect as netConnect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Logger, MemoryStore } from "../../src/index";
import { RawClient, startServer, type TestServer, USERS } from "../support";
import { describePeer, probePeer, tempDir } from "./peers";

const HAPROXY = process.env["POP3_HAPROXY_BIN"] ?? "haproxy";

const haproxy = probePeer(
  "haproxy",
  HAPROXY,
  ["-v"],
  "apt-get install haproxy (or bash scripts/haproxy/haproxy.sh install)",
  (output) => {
    const line = output.split("\n").find((l) => /HAProxy version/i.test(l));
    if (line === undefined) throw new Error(`unexpected output: ${output.slice(0, 200)}`);
    return line.trim().split(" ").slice(0, 3).join(" ");
  },
);

interface LogLine {
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** A free port on 127.0.0.1 (bound and released; HAProxy binds it right after). */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ port, host: "127.0.0.1" });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`HAProxy did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describePeer(haproxy, "pop3-server behind HAProxy (send-proxy-v2)", () => {
  const dir = tempDir("haproxy");
  const lines: LogLine[] = [];
  let server: TestServer;
  let proxy: ChildProcess | undefined;
  let stderr = "";
  let plainPort = 0;
  let tlsPort = 0;

  beforeAll(async () => {
    const record = (fields: Record<string, unknown>, message: string): void => {
      lines.push({ fields, message });
    };
    const logger: Logger = { debug: record, info: record, warn: record, error: record };
    server = await startServer({
      plain: { host: "127.0.0.1", port: 0, proxyProtocol: true },
      implicitTls: { host: "127.0.0.1", port: 0, proxyProtocol: true },
      logger,
      limits: { maxConnectionsPerAddress: 2 },
    });
    (server.store as MemoryStore).addMessage("alice", "Subject: via haproxy\r\n\r\nhello\r\n");
    plainPort = await freePort();
    tlsPort = await freePort();
    // HAProxy connects to us from 127.0.0.3, clients connect to it from 127.0.0.2 and .4: the
    // server must see the clients' addresses, never the proxy's.
    const config = `global
  maxconn 200

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend pop3
  bind 127.0.0.1:${plainPort}
  default_backend pop3_nodes

backend pop3_nodes
  server node1 127.0.0.1:${server.port} send-proxy-v2 source 127.0.0.3 check inter 300

frontend pop3s
  bind 127.0.0.1:${tlsPort}
  default_backend pop3s_nodes

backend pop3s_nodes
  server node1 127.0.0.1:${server.tlsPort} send-proxy-v2 source 127.0.0.3
`;
    const file = join(dir.path, "haproxy.cfg");
    writeFileSync(file, config);
    proxy = spawn(HAPROXY, ["-db", "-f", file], { stdio: ["ignore", "ignore", "pipe"] });
    proxy.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    try {
      await waitForPort(plainPort);
      await waitForPort(tlsPort);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}\n${stderr}`);
    }
  });

  afterAll(async () => {
    if (proxy?.pid !== undefined && proxy.exitCode === null) {
      const exited = new Promise((resolve) => proxy?.once("exit", resolve));
      proxy.kill("SIGTERM");
      await exited;
    }
    await server?.close();
    dir.cleanup();
  });

  const loggedInAddresses = (): unknown[] =>
    lines.filter((l) => l.message === "logged in").map((l) => l.fields["address"]);

  it("a client through HAProxy is logged with its own address, not the proxy's", async () => {
    const client = await RawClient.connect(plainPort, { localAddress: "127.0.0.2" });
    await client.login("alice", USERS.alice);
    expect(await client.command("RETR 1")).toMatch(/^\+OK/);
    expect((await client.body()).toString()).toContain("via haproxy");
    expect(await client.command("QUIT")).toMatch(/^\+OK/);
    await client.closed();
    expect(loggedInAddresses()).toEqual(["127.0.0.2"]);
    const header = lines.find(
      (l) => l.message === "PROXY header" && l.fields["address"] === "127.0.0.2",
    );
    expect(header?.fields).toMatchObject({ address: "127.0.0.2", proxy: "127.0.0.3", version: 2 });
  });

  it("implicit TLS through HAProxy (TCP pass-through): the header precedes the handshake", async () => {
    const client = await RawClient.connect(tlsPort, {
      tls: { servername: "localhost" },
      localAddress: "127.0.0.4",
    });
    expect(client.tlsSocket?.encrypted).toBe(true);
    await client.login("bob", USERS.bob);
    expect(await client.command("QUIT")).toMatch(/^\+OK/);
    expect(loggedInAddresses().at(-1)).toBe("127.0.0.4");
  });

  it("the per-address connection limit counts real client addresses", async () => {
    const held: RawClient[] = [];
    for (let i = 0; i < 2; i++) {
      const client = await RawClient.connect(plainPort, { localAddress: "127.0.0.2" });
      expect(await client.line()).toMatch(/^\+OK/);
      held.push(client);
    }
    const third = await RawClient.connect(plainPort, { localAddress: "127.0.0.2" });
    expect(await third.line()).toBe("-ERR [SYS/TEMP] too many connections, try later");
    // Another client through the same proxy is not affected.
    const other = await RawClient.connect(plainPort, { localAddress: "127.0.0.4" });
    expect(await other.line()).toMatch(/^\+OK/);
    const refused = lines.filter((l) => l.message === "connection refused: limit reached");
    expect(refused.map((l) => l.fields["address"])).toEqual(["127.0.0.2"]);
    for (const client of [...held, third, other]) client.close();
  });

  it("HAProxy's health checks carry the header too (v2 LOCAL) and are accepted", async () => {
    const deadline = Date.now() + 5000;
    const isCheck = (l: LogLine): boolean =>
      l.message === "PROXY header" && l.fields["command"] === "LOCAL";
    while (!lines.some(isCheck) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // (The check may have reset the connection before it was accepted: its peer address can be
    // gone already. LOCAL means "use the socket's own address", whatever that is.)
    expect(lines.find(isCheck)?.fields).toMatchObject({ command: "LOCAL", version: 2 });
    expect(lines.filter((l) => l.message.startsWith("PROXY header missing"))).toEqual([]);
  });

  it("a client that bypasses HAProxy (no PROXY header) is closed", async () => {
    const direct = await RawClient.connect(server.port);
    direct.send("USER alice\r\n");
    expect(await direct.line()).toBeUndefined();
  });
});
