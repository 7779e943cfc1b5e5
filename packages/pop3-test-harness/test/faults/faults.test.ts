import { connect as netConnect } from "node:net";
import { connect, type Pop3Client } from "pop3-client";
import { RemoteProtocolError } from "pop3-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestServer, type FaultRule, type TestServer } from "../../src/index";

const MESSAGE = "Subject: faults\r\n\r\n.a line with a dot\r\nsecond line\r\n";
let t: TestServer;
let client: Pop3Client | undefined;

beforeEach(async () => {
  t = await createTestServer({ users: { alice: "wonderland" } });
  t.addMessage("alice", MESSAGE);
});
afterEach(async () => {
  client?.close();
  client = undefined;
  await t.close();
});

async function session(
  rule: FaultRule | undefined,
  extra: Parameters<typeof connect>[0] extends infer O ? Partial<O> : never = {},
) {
  if (rule !== undefined) t.faults.add(rule);
  client = await connect({ host: t.host, port: t.port, tls: "none", ...extra });
  await client.login({ user: "alice", password: "wonderland", mechanism: "USER" });
  return client;
}

describe("fault injection", () => {
  it("splits every answer into single bytes, and the client still gets it all", async () => {
    const c = await session({ fault: { type: "chunk", size: 1 } });
    expect((await c.retrieveBytes(1)).toString()).toBe(MESSAGE);
    // Seen from a raw socket, the greeting really arrives in many small reads.
    const raw = netConnect(t.port, t.host);
    let reads = 0;
    let text = "";
    await new Promise<void>((resolve) =>
      raw.on("data", (chunk: Buffer) => {
        reads += 1;
        text += chunk.toString();
        if (text.endsWith("\r\n")) resolve();
      }),
    );
    raw.destroy();
    expect(reads).toBeGreaterThan(text.length / 4);
  });

  it("trickles an answer slowly", async () => {
    const c = await session({ on: "RETR", fault: { type: "trickle", size: 7, delayMs: 2 } });
    expect((await c.retrieveBytes(1)).toString()).toBe(MESSAGE);
  });

  it("stalls a command until the client's timeout", async () => {
    const c = await session(
      { on: "STAT", fault: { type: "stall" } },
      { timeouts: { command: 300 } },
    );
    await expect(c.stat()).rejects.toMatchObject({ code: "POP3_TIMEOUT" });
  });

  it("drops the connection after some bytes of a RETR", async () => {
    const c = await session({ on: "RETR", fault: { type: "drop", afterBytes: 30 } });
    await expect(c.retrieveBytes(1)).rejects.toMatchObject({ code: "POP3_CLOSED" });
  });

  it("records what each session sent, secrets hidden", async () => {
    const c = await session(undefined);
    await c.retrieveBytes(1);
    await c.delete(1);
    await c.quit();
    const last = t.sessions.at(-1);
    expect(last?.commands).toEqual([
      "CAPA",
      "USER alice",
      "PASS ***",
      "CAPA",
      "LIST 1",
      "RETR 1",
      "DELE 1",
      "QUIT",
    ]);
    expect(JSON.stringify(t.sessions)).not.toContain("wonderland");
    expect(t.deletions).toHaveLength(1);
  });

  it("a stream that fails before anyone reads it keeps its error for the reader", async () => {
    const c = await session({ on: "RETR", fault: { type: "drop", afterBytes: 30 } });
    const stream = await c.retrieve(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stream.errored).toMatchObject({ code: "POP3_CLOSED" });
    await expect(stream.bytes()).rejects.toMatchObject({ code: "POP3_CLOSED" });
  });

  it("answers -ERR with any response code", async () => {
    t.faults.add({
      on: "PASS",
      times: 1,
      fault: { type: "error", code: "IN-USE", text: "locked" },
    });
    client = await connect({ host: t.host, port: t.port, tls: "none" });
    const error = await client
      .login({ user: "alice", password: "wonderland", mechanism: "USER" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ responseCode: "IN-USE", retryable: true });
    await client.login({ user: "alice", password: "wonderland", mechanism: "USER" });
  });

  it("makes the UPDATE fail: QUIT reports nothing committed and the message stays", async () => {
    const c = await session(undefined);
    t.faults.failCommits();
    await c.delete(1);
    expect(await c.quit()).toMatchObject({
      committed: false,
      reply: { ok: false, code: "SYS/TEMP" },
    });
    expect(t.messages("alice")).toHaveLength(1);
  });

  it("a server that forgets dot-stuffing is caught by the size check", async () => {
    t.reset();
    t.addMessage("alice", "Subject: x\r\n\r\nbefore\r\n.\r\nafter\r\n");
    const c = await session({ on: "RETR", fault: { type: "no-dot-stuffing" } });
    await expect(c.retrieveBytes(1)).rejects.toMatchObject({ code: "POP3_TRUNCATED" });
  });

  it("bare LF line ends are read only in lenient mode", async () => {
    const warnings: Error[] = [];
    const c = await session(
      { on: "RETR", fault: { type: "bare-lf" } },
      { lenientLineEnds: true, onSizeMismatch: "warn", onWarning: (w) => warnings.push(w) },
    );
    expect((await c.retrieveBytes(1)).toString()).toBe(MESSAGE.replace(/\r\n/g, "\n"));
    expect(warnings).toHaveLength(1);
  });

  it("no final line end leaves the client waiting, until its timeout", async () => {
    const c = await session(
      { on: "RETR", fault: { type: "no-final-line-end" } },
      { timeouts: { command: 300 } },
    );
    await expect(c.retrieveBytes(1)).rejects.toMatchObject({ code: "POP3_TIMEOUT" });
  });

  it("a wrong LIST size is reported as truncation", async () => {
    const c = await session({ on: "LIST", fault: { type: "wrong-size", delta: 5 } });
    const listing = await c.list();
    expect(listing[0]?.size).toBe(MESSAGE.length + 5);
    await expect(c.retrieveBytes(1)).rejects.toMatchObject({
      code: "POP3_TRUNCATED",
      expected: MESSAGE.length + 5,
    });
  });

  it("answers a bare AUTH with a mechanism list", async () => {
    t.faults.add({ on: "AUTH", fault: { type: "auth-list", mechanisms: ["PLAIN", "XOAUTH2"] } });
    client = await connect({ host: t.host, port: t.port, tls: "none" });
    const result = await client.command("AUTH", { multiline: true });
    expect(result.body?.toString()).toBe("PLAIN\r\nXOAUTH2\r\n");
  });

  it("NUL bytes in a status line are a protocol error for a strict client", async () => {
    t.faults.add({ on: "NOOP", fault: { type: "nul-bytes" } });
    const c = await session(undefined);
    await expect(c.noop()).rejects.toBeInstanceOf(RemoteProtocolError);
  });

  it("a busy server can refuse with its greeting", async () => {
    t.faults.add({ on: "GREETING", fault: { type: "error", code: "SYS/TEMP", text: "too busy" } });
    await expect(connect({ host: t.host, port: t.port, tls: "none" })).rejects.toMatchObject({
      code: "POP3_SERVER_ERROR",
      responseCode: "SYS/TEMP",
    });
  });

  it("pipes STLS connections untouched after the upgrade", async () => {
    await t.close();
    t = await createTestServer({ tls: true, users: { alice: "wonderland" } });
    t.addMessage("alice", MESSAGE);
    t.faults.add({ on: "CAPA", fault: { type: "chunk", size: 3 } });
    client = await connect({
      host: t.host,
      port: t.port,
      tlsOptions: { ca: t.certificate?.cert as string, servername: "localhost" },
    });
    expect(client.secure).toBe(true);
    await client.login({ user: "alice", password: "wonderland" });
    expect((await client.retrieveBytes(1)).toString()).toBe(MESSAGE);
  });
});
