import { afterEach, describe, expect, it } from "vitest";
import {
  ConfigError,
  createServer,
  MemoryStore,
  type Pop3Server,
  staticUsers,
} from "../../src/index";
import { certificate, RawClient, USERS } from "../support";
import { duplexPair } from "./duplex-pair";

// `server.serve(stream)`: the whole server (connection, phases, limits) over an in-memory stream
// pair, without a socket or a listener; STLS and implicit TLS are real TLS over the pair.

let server: Pop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function make(overrides: { allowCleartextAuth?: boolean; tls?: boolean } = {}) {
  const store = new MemoryStore();
  store.addMessage("alice", "Subject: hi\r\n\r\n.dot\r\n", { uid: "m1" });
  server = createServer({
    store,
    auth: staticUsers(USERS),
    plain: { port: 0 },
    hostname: "test.local",
    allowCleartextAuth: overrides.allowCleartextAuth ?? false,
    ...(overrides.tls === false ? {} : { tls: certificate() }),
    limits: { failedLoginDelayMs: 0, closeTimeoutMs: 500, shutdownGraceMs: 100 },
  });
  return { store, server };
}

describe("serve(stream)", () => {
  it("runs a whole session over an in-memory pair, UPDATE included", async () => {
    const { server, store } = make({ allowCleartextAuth: true, tls: false });
    const [clientEnd, serverEnd] = duplexPair();
    const served = server.serve(serverEnd, { remoteAddress: "192.0.2.7" });
    const client = RawClient.over(clientEnd);
    await client.login();
    expect(await client.command("RETR 1")).toBe("+OK 21 octets");
    expect((await client.body()).toString()).toBe("Subject: hi\r\n\r\n.dot\r\n");
    expect(await client.command("DELE 1")).toBe("+OK message 1 deleted");
    expect(await client.command("QUIT")).toBe("+OK bye, 1 deleted, 0 left");
    await client.closed();
    await served;
    expect(store.messages("alice")).toEqual([]);
    expect(server.stats()).toMatchObject({ connections: 1, activeConnections: 0, sessions: 1 });
  });

  it("upgrades with STLS to real TLS over the pair, dropping what was pipelined after it", async () => {
    const { server, store } = make();
    const [clientEnd, serverEnd] = duplexPair();
    const served = server.serve(serverEnd);
    const client = RawClient.over(clientEnd);
    expect(await client.line()).toMatch(/^\+OK POP3 server ready </);
    expect(await client.command("USER alice")).toBe(
      "-ERR [AUTH] plaintext authentication disallowed without TLS",
    );
    client.send("STLS\r\nUSER alice\r\nPASS wonderland\r\n");
    expect(await client.line()).toBe("+OK begin TLS negotiation");
    await client.startTls({ ca: certificate().cert, rejectUnauthorized: true });
    expect(client.tlsSocket?.authorized).toBe(true);
    expect(await client.command("STAT")).toBe("-ERR STAT is not valid in this state");
    expect(await client.command("CAPA")).toBe("+OK capability list follows");
    expect(await client.lines()).not.toContain("STLS");
    expect(await client.command("USER alice")).toBe("+OK send PASS");
    expect(await client.command("PASS wonderland")).toBe("+OK alice has 1 messages (21 octets)");
    expect(store.isLocked("alice")).toBe(true);
    client.close();
    await served;
    expect(store.isLocked("alice")).toBe(false);
    expect(store.messages("alice")).toHaveLength(1);
    expect(server.stats().activeConnections).toBe(0);
  });

  it("speaks TLS from the first byte with implicitTls", async () => {
    const { server } = make();
    const [clientEnd, serverEnd] = duplexPair();
    const served = server.serve(serverEnd, { implicitTls: true });
    const client = RawClient.over(clientEnd);
    await client.startTls({ ca: certificate().cert, rejectUnauthorized: true });
    await client.login();
    expect(await client.command("QUIT")).toBe("+OK bye, 0 deleted, 1 left");
    await served;
  });

  it("refuses implicitTls without a certificate", async () => {
    const { server } = make({ tls: false });
    const [, serverEnd] = duplexPair();
    await expect(server.serve(serverEnd, { implicitTls: true })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it("is ended by close() like any connection, deleting nothing", async () => {
    const { server, store } = make({ allowCleartextAuth: true });
    const [clientEnd, serverEnd] = duplexPair();
    const served = server.serve(serverEnd);
    const client = RawClient.over(clientEnd);
    await client.login();
    expect(await client.command("DELE 1")).toBe("+OK message 1 deleted");
    await server.close();
    expect(await client.line()).toBe("-ERR [SYS/TEMP] server shutting down");
    await served;
    expect(store.messages("alice")).toHaveLength(1);
    expect(store.isLocked("alice")).toBe(false);
  });
});
