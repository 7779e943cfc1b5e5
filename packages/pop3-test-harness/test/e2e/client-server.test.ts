import { connect, type LoginMechanism, type TraceEvent } from "pop3-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestServer, type TestServer } from "../../src/index";

/** What a conforming client must get back for `message`: CRLF line ends, final CRLF. */
function wireForm(message: Uint8Array): Buffer {
  const text = Buffer.from(message)
    .toString("latin1")
    .replace(/\r\n|\r|\n/g, "\r\n");
  return Buffer.from(text.length > 0 && !text.endsWith("\r\n") ? `${text}\r\n` : text, "latin1");
}

const EDGE: Record<string, Buffer> = {
  dotLines: Buffer.from("Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"),
  bareLf: Buffer.from("Subject: lf\n\none\n.two\n"),
  noFinalNewline: Buffer.from("Subject: nofinal\r\n\r\nno newline"),
  binary: Buffer.concat([
    Buffer.from("Subject: 8bit\r\n\r\n"),
    Buffer.from([0, 0xff, 0x80, 0xc3, 0xa9, 13, 10]),
  ]),
  empty: Buffer.alloc(0),
};

function bigMessage(bytes: number): Buffer {
  const lines: string[] = ["Subject: big", ""];
  let size = 16;
  for (let i = 0; size < bytes; i++) {
    const line = `${i % 37 === 0 ? "." : ""}${"abcdefghij".repeat(7)}${String(i).padStart(6, "0")}`;
    lines.push(line);
    size += line.length + 2;
  }
  return Buffer.from(`${lines.join("\r\n")}\r\n`);
}

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({ tls: true, users: { alice: "wonderland", bob: "builder" } });
});
afterAll(() => t.close());

const tlsOptions = () => ({ ca: t.certificate?.cert as string, servername: "localhost" });

describe("pop3-client against pop3-server", () => {
  it("upgrades with STLS by default and re-reads CAPA after TLS", async () => {
    const trace: TraceEvent[] = [];
    await using client = await connect({
      host: "127.0.0.1",
      port: t.port,
      tlsOptions: tlsOptions(),
      trace: (e) => trace.push(e),
    });
    expect(client.secure).toBe(true);
    expect(client.capabilityList.has("STLS")).toBe(false);
    expect(client.capabilityList.has("USER")).toBe(true);
    expect(trace.filter((e) => e.line === "CAPA")).toHaveLength(2);
  });

  it("reports what TLS negotiated, and sends no SNI for an IP address", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    await using client = await connect({
      host: "127.0.0.1",
      port: t.tlsPort as number,
      tls: "implicit",
      tlsOptions: { ca: t.certificate?.cert as string },
    });
    process.off("warning", onWarning);
    expect(client.tlsInfo).toMatchObject({
      protocol: expect.stringMatching(/^TLSv1\.[23]$/),
      authorized: true,
    });
    expect(client.tlsInfo?.certificate?.subject).toMatchObject({ CN: "localhost" });
    expect(warnings.filter((w) => String(w).includes("DEP0123"))).toEqual([]);
  });

  it("connects with implicit TLS and refuses an untrusted certificate", async () => {
    await using client = await connect({
      host: "127.0.0.1",
      port: t.tlsPort as number,
      tls: "implicit",
      tlsOptions: tlsOptions(),
    });
    expect(client.secure).toBe(true);
    await expect(
      connect({ host: "127.0.0.1", port: t.tlsPort as number, tls: "implicit" }),
    ).rejects.toMatchObject({
      code: "POP3_TLS",
    });
  });

  it.each<LoginMechanism>(["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"])(
    "logs in with %s",
    async (mechanism) => {
      const trace: TraceEvent[] = [];
      await using client = await connect({
        host: "127.0.0.1",
        port: t.port,
        tlsOptions: tlsOptions(),
        trace: (e) => trace.push(e),
      });
      await client.login({ user: "bob", password: "builder", mechanism });
      expect(client.state).toBe("TRANSACTION");
      expect(JSON.stringify(trace)).not.toContain("builder");
    },
  );

  it("picks the best mechanism by itself and reports a wrong password as [AUTH]", async () => {
    await using client = await connect({
      host: "127.0.0.1",
      port: t.port,
      tlsOptions: tlsOptions(),
    });
    const error = await client.login({ user: "bob", password: "wrong" }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "POP3_SERVER_ERROR",
      responseCode: "AUTH",
      retryable: false,
    });
    expect(String(error)).toContain("AUTH PLAIN");
    await client.login({ user: "bob", password: "builder" });
  });

  it("fetches every edge-case message and a 30 MB one byte for byte, pipelined", async () => {
    t.reset();
    const messages = [...Object.values(EDGE), bigMessage(30 * 1024 * 1024)];
    for (const message of messages) t.addMessage("alice", message);
    await using client = await connect({
      host: "127.0.0.1",
      port: t.port,
      tlsOptions: tlsOptions(),
    });
    await client.login({ user: "alice", password: "wonderland" });
    const listing = await client.list();
    expect(listing.map((l) => l.size)).toEqual(messages.map((m) => wireForm(m).length));
    const fetched = await Promise.all(messages.map((_, i) => client.retrieveBytes(i + 1)));
    for (const [i, bytes] of fetched.entries()) {
      expect(bytes.equals(wireForm(messages[i] as Buffer)), `message ${i + 1}`).toBe(true);
    }
    const uids = await client.uidl();
    expect(new Set(uids.map((u) => u.uid)).size).toBe(messages.length);
  });

  it("deletes on QUIT: committed, visible to the next session and in the deletion log", async () => {
    t.reset();
    t.addMessage("alice", "Subject: one\r\n\r\n1\r\n");
    t.addMessage("alice", "Subject: two\r\n\r\n2\r\n");
    const client = await connect({ host: "127.0.0.1", port: t.port, tlsOptions: tlsOptions() });
    await client.login({ user: "alice", password: "wonderland" });
    const [first] = await client.uidl();
    await client.delete(1);
    expect(await client.quit()).toMatchObject({ committed: true });
    expect(t.deletions).toMatchObject([{ user: "alice", uids: [first?.uid] }]);
    await using again = await connect({
      host: "127.0.0.1",
      port: t.port,
      tlsOptions: tlsOptions(),
    });
    await again.login({ user: "alice", password: "wonderland" });
    expect(await again.stat()).toMatchObject({ count: 1 });
  });

  it("a second session sees [IN-USE], retryable; disposing deletes nothing", async () => {
    t.reset();
    t.addMessage("alice", "Subject: keep\r\n\r\nme\r\n");
    {
      await using first = await connect({
        host: "127.0.0.1",
        port: t.port,
        tlsOptions: tlsOptions(),
      });
      await first.login({ user: "alice", password: "wonderland" });
      await first.delete(1);
      await using second = await connect({
        host: "127.0.0.1",
        port: t.port,
        tlsOptions: tlsOptions(),
      });
      const error = await second
        .login({ user: "alice", password: "wonderland" })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ responseCode: "IN-USE", retryable: true });
    }
    expect(t.messages("alice")).toHaveLength(1);
    expect(t.deletions).toHaveLength(0);
  });

  it("streams TOP and exposes a web ReadableStream view", async () => {
    t.reset();
    t.addMessage("alice", "Subject: top\r\n\r\nl1\r\nl2\r\nl3\r\n");
    await using client = await connect({
      host: "127.0.0.1",
      port: t.port,
      tlsOptions: tlsOptions(),
    });
    await client.login({ user: "alice", password: "wonderland" });
    const web = (await client.top(1, 1)).toWeb();
    const chunks: Uint8Array[] = [];
    for await (const chunk of web) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe("Subject: top\r\n\r\nl1\r\n");
  });
});
