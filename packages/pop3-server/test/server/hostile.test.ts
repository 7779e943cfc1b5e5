import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MaildirStore } from "../../src/index";
import { RawClient, startServer, type TestServer } from "../support";

/**
 * Clients that flood, stall and never read, over real sockets. Each test shows one bound of
 * the README's "What a hostile client gets" with a figure it can fail on.
 */

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

/** JS heap plus Buffers: what a client's unsent answers would grow. */
function heapAndBuffers(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** A plain TCP connection that reads nothing until told to. */
async function rawSocket(port: number, localAddress?: string): Promise<Socket> {
  const socket = netConnect({ port, host: "127.0.0.1", ...(localAddress ? { localAddress } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  // Flowing, so a close by the server is seen; a test that wants a client that never reads
  // pauses it.
  socket.resume();
  return socket;
}

function closed(socket: Socket): Promise<void> {
  return socket.destroyed ? Promise.resolve() : new Promise((r) => socket.once("close", () => r()));
}

describe("a client that pipelines and never reads", () => {
  it("costs a bounded amount of memory, and gets every answer once it reads", async () => {
    t = await startServer();
    for (let i = 0; i < 100; i++) t.store.addMessage("alice", `Subject: ${i}\r\n\r\nbody\r\n`);
    const probe = await RawClient.connect(t.port);
    await probe.login();
    const before = t.server.stats();
    await probe.command("UIDL");
    await probe.lines();
    const answerBytes = t.server.stats().bytesSent - before.bytesSent;
    await probe.command("QUIT");
    await probe.closed();
    const probeBytes = t.server.stats().bytesSent;

    const socket = await rawSocket(t.port);
    socket.pause();
    socket.write("USER alice\r\nPASS wonderland\r\n");
    await until(() => t?.server.stats().sessions === 2);
    await sleep(50);
    const headBytes = (t.server.stats().bytesSent ?? 0) - probeBytes;
    const count = 20_000; // 100 KB of commands asking for about 30 MB of answers
    const baseline = heapAndBuffers();
    const commandsBefore = t.server.stats().commands;
    socket.write("UIDL\r\n".repeat(count));
    await sleep(1500);
    const growth = heapAndBuffers() - baseline;
    const handled = t.server.stats().commands - commandsBefore;
    // Only what the kernel's socket buffers absorb was answered; the rest waits unread, as
    // commands in the socket, not as answers in our memory.
    expect(handled).toBeLessThan(count / 2);
    expect(growth).toBeLessThan(16 * 1024 * 1024);

    // Reading resumes the flow: every answer arrives, whole and in order.
    let received = 0;
    const expected = headBytes + count * answerBytes;
    let tail = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      tail = (tail + chunk.toString("latin1")).slice(-64);
    });
    socket.resume();
    await until(() => received >= expected, 60_000);
    expect(received).toBe(expected);
    expect(tail.endsWith("\r\n.\r\n")).toBe(true);
    socket.destroy();
  }, 90_000);

  it("is dropped when it leaves its output unread, and its maildrop lock is freed", async () => {
    t = await startServer({ limits: { writeTimeoutMs: 1000 } });
    for (let i = 0; i < 100; i++) t.store.addMessage("alice", `Subject: ${i}\r\n\r\nbody\r\n`);
    const socket = await rawSocket(t.port);
    socket.pause();
    socket.write(`USER alice\r\nPASS wonderland\r\n${"UIDL\r\n".repeat(50_000)}`);
    await until(() => t?.server.stats().sessions === 1);
    await until(() => t?.server.stats().activeConnections === 0);
    // The lock went with it: the user logs in at once.
    const next = await RawClient.connect(t.port);
    await next.login();
    expect(await next.command("STAT")).toMatch(/^\+OK 100 /);
    next.close();
  }, 30_000);

  it("does not hold up shutdown: close() ends within its grace whatever the client does", async () => {
    t = await startServer({ limits: { shutdownGraceMs: 200, closeTimeoutMs: 200 } });
    for (let i = 0; i < 100; i++) t.store.addMessage("alice", `Subject: ${i}\r\n\r\nbody\r\n`);
    const socket = await rawSocket(t.port);
    socket.pause();
    socket.write(`USER alice\r\nPASS wonderland\r\n${"UIDL\r\n".repeat(50_000)}`);
    await until(() => t?.server.stats().sessions === 1);
    await sleep(300);
    // Before, close() waited for a `finish` that a client that never reads never gives.
    await t.server.close();
    expect(t.server.stats().activeConnections).toBe(0);
    expect(t.store.messages("alice")).toHaveLength(100);
    t = undefined;
    socket.destroy();
  }, 30_000);
});

describe("implicit TLS handshakes", () => {
  it("closes a connection that sends nothing, or half a ClientHello, when the handshake time is up", async () => {
    t = await startServer({ limits: { tlsHandshakeTimeoutMs: 1000 } });
    const silent = await rawSocket(t.tlsPort);
    const half = await rawSocket(t.tlsPort);
    // A TLS record header announcing 512 octets of handshake, then only a few of them.
    half.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    // Counted from TCP accept, before any handshake.
    expect(t.server.stats().activeConnections).toBe(2);
    await Promise.all([closed(silent), closed(half)]);
    await until(() => t?.server.stats().activeConnections === 0);
  }, 30_000);

  it("counts silent handshakes against the limits, and a real client still gets in", async () => {
    t = await startServer({ limits: { maxConnections: 20, maxPreLoginConnectionsPerAddress: 5 } });
    const silent: Socket[] = [];
    for (let i = 0; i < 5; i++) silent.push(await rawSocket(t.tlsPort, "127.0.0.2"));
    // A sixth one from the same address is over its share: closed at once, not at the timeout.
    const over = await rawSocket(t.tlsPort, "127.0.0.2");
    await closed(over);
    expect(t.server.stats().connectionsRejected).toBe(1);
    for (let host = 3; host < 12; host++) {
      for (let i = 0; i < 5; i++) silent.push(await rawSocket(t.tlsPort, `127.0.0.${host}`));
    }
    // 50 silent handshakes, 20 slots: the oldest gave way each time (its socket closes on the
    // next turn of the event loop).
    await until(() => (t?.server.stats().activeConnections ?? 99) <= 20);
    expect(t.server.stats().connections).toBe(50);
    // The server is full of silent handshakes; a real client takes the oldest one's place.
    const client = await RawClient.connect(t.tlsPort, { tls: { rejectUnauthorized: false } });
    await client.login();
    expect(await client.command("STAT")).toMatch(/^\+OK/);
    await until(() => (t?.server.stats().activeConnections ?? 99) <= 20);
    client.close();
    for (const socket of silent) socket.destroy();
  }, 60_000);

  it("keeps file descriptors for real clients under a lowered descriptor limit", async () => {
    // This test process may open 256 descriptors; 200 silent handshakes would need 400 (both
    // ends live here) if the server held each until its handshake finished.
    const limits = readFileSync("/proc/self/limits", "utf8");
    const soft = /Max open files\s+(\d+)/.exec(limits)?.[1] ?? "1024";
    execFileSync("prlimit", ["--pid", String(process.pid), "--nofile=256:"]);
    try {
      t = await startServer({ limits: { maxConnections: 40 } });
      const silent: Socket[] = [];
      for (let host = 2; host < 22; host++) {
        for (let i = 0; i < 10; i++) silent.push(await rawSocket(t.tlsPort, `127.0.0.${host}`));
      }
      expect(t.server.stats().connections).toBe(200);
      const client = await RawClient.connect(t.tlsPort, { tls: { rejectUnauthorized: false } });
      await client.login();
      expect(await client.command("STAT")).toMatch(/^\+OK/);
      client.close();
      for (const socket of silent) socket.destroy();
    } finally {
      execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${soft}:`]);
    }
  }, 60_000);
});

describe("connection slots", () => {
  it("are given back however a connection ends: plain, STLS, implicit TLS, failed handshake", async () => {
    t = await startServer({ limits: { tlsHandshakeTimeoutMs: 1000 } });
    const plain = await RawClient.connect(t.port);
    await plain.login();
    await plain.command("QUIT");
    await plain.closed();
    const upgraded = await RawClient.connect(t.port);
    await upgraded.line();
    expect(await upgraded.command("STLS")).toMatch(/^\+OK/);
    await upgraded.startTls();
    await upgraded.command("USER alice");
    expect(await upgraded.command("PASS wonderland")).toMatch(/^\+OK/);
    upgraded.close();
    const implicit = await RawClient.connect(t.tlsPort, { tls: { rejectUnauthorized: false } });
    await implicit.login();
    implicit.close();
    const garbage = await rawSocket(t.tlsPort);
    garbage.write("USER alice\r\n");
    await closed(garbage);
    await until(() => t?.server.stats().activeConnections === 0);
    expect(t.server.stats().connections).toBe(4);
  }, 30_000);
});

describe("a message that changes on disk during a session", () => {
  let root: string;
  let m: TestServer<MaildirStore> | undefined;
  afterEach(async () => {
    await m?.close();
    m = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  async function maildirWith(size: number): Promise<string> {
    root = mkdtempSync(join(tmpdir(), "pop3-changed-"));
    const maildir = join(root, "alice", "Maildir");
    for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
    writeFileSync(join(maildir, "new", "1700000000.M1P1.test"), Buffer.alloc(size, "x\r\n"));
    m = await startServer({}, new MaildirStore({ root }));
    return join(maildir, "cur");
  }

  it("a file cut short after LIST is not passed off as whole: the connection drops", async () => {
    const size = 3 * 1024 * 1024;
    const cur = await maildirWith(size);
    const probe = await RawClient.connect(m?.port ?? 0);
    await probe.login();
    expect(await probe.command("LIST 1")).toBe(`+OK 1 ${size}`);
    await probe.command("QUIT");
    await probe.closed();
    const [name] = readdirSync(cur);
    const path = join(cur, name as string);
    const client = await RawClient.connect(m?.port ?? 0);
    await client.login();
    truncateSync(path, 1024 * 1024);
    expect(await client.command("RETR 1")).toBe(`+OK ${size} octets`);
    const chunks: Buffer[] = [];
    client.socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await client.closed(20_000);
    const wire = Buffer.concat(chunks).toString("latin1");
    expect(wire.endsWith("\r\n.\r\n")).toBe(false);
    expect(wire.length).toBeLessThan(size);
  }, 60_000);

  it("a file that grew after LIST is cut off at the announced size, without a terminator", async () => {
    const cur = await maildirWith(1376);
    const [name] = readdirSync(cur.replace(/cur$/, "new"));
    const client = await RawClient.connect(m?.port ?? 0);
    await client.login();
    const [moved] = readdirSync(cur);
    expect(moved).toContain(name?.split(":")[0]);
    appendFileSync(join(cur, moved as string), Buffer.alloc(1_000_000, "y\r\n"));
    // The first read already shows more than announced, so not even the +OK leaves: the
    // client sees the connection close, and takes nothing for a message.
    const status = await client.command("RETR 1");
    expect(status === undefined || status === "+OK 1376 octets").toBe(true);
    const chunks: Buffer[] = [];
    client.socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    await client.closed(20_000);
    const wire = Buffer.concat(chunks).toString("latin1");
    expect(wire.endsWith("\r\n.\r\n")).toBe(false);
    expect(wire.length).toBeLessThan(1_000_000);
  }, 60_000);
});
