import { X509Certificate } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { certificate, RawClient, startServer, type TestServer } from "../support";

let t: TestServer | undefined;
afterEach(() => t?.close());

describe("TLS", () => {
  it("offers STLS and USER on the plain port only as the configuration allows", async () => {
    t = await startServer({ allowCleartextAuth: false });
    const client = await RawClient.connect(t.port);
    await client.line();
    await client.command("CAPA");
    const before = await client.lines();
    expect(before).toContain("STLS");
    expect(before).not.toContain("USER");
    // CRAM-MD5 never sends the password, so it may be offered before TLS; PLAIN and LOGIN not.
    expect(before.find((l) => l.startsWith("SASL"))).toBe("SASL CRAM-MD5");
    expect(await client.command("USER alice")).toBe(
      "-ERR [AUTH] plaintext authentication disallowed without TLS",
    );
    expect(await client.command("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=")).toMatch(
      /^-ERR \[AUTH\] plaintext/,
    );

    expect(await client.command("STLS")).toMatch(/^\+OK/);
    await client.startTls();
    expect(client.tlsSocket?.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    await client.command("CAPA");
    const after = await client.lines();
    expect(after).not.toContain("STLS");
    expect(after).toContain("USER");
    expect(after.find((l) => l.startsWith("SASL"))).toBe("SASL PLAIN LOGIN CRAM-MD5");
    expect(await client.command("STLS")).toMatch(/^-ERR/);
    expect(await client.command("USER alice")).toMatch(/^\+OK/);
    expect(await client.command("PASS wonderland")).toMatch(/^\+OK/);
    await client.command("CAPA");
    expect(await client.lines()).toContain("USER");
    client.close();
  });

  it("throws away commands pipelined after STLS instead of running them after TLS (CVE-2011-0411)", async () => {
    t = await startServer({ allowCleartextAuth: false });
    t.store.addMessage("alice", "Subject: x\r\n\r\nhi\r\n");
    const client = await RawClient.connect(t.port);
    await client.line();
    client.send("STLS\r\nUSER alice\r\nPASS wonderland\r\nDELE 1\r\nQUIT\r\n");
    expect(await client.line()).toMatch(/^\+OK/);
    await client.startTls();
    // Had the injected lines run, this STAT would answer for a logged-in user.
    expect(await client.command("STAT")).toMatch(/^-ERR/);
    expect(await client.command("NOOP")).toMatch(/^-ERR/);
    client.close();
    expect(t.store.messages("alice")).toHaveLength(1);
  });

  it("serves implicit TLS on the second listener, refusing TLS below 1.2", async () => {
    t = await startServer({ allowCleartextAuth: false });
    const client = await RawClient.connect(t.tlsPort, { tls: { servername: "localhost" } });
    expect(await client.line()).toMatch(/^\+OK/);
    await client.command("CAPA");
    const caps = await client.lines();
    expect(caps).not.toContain("STLS");
    expect(caps).toContain("USER");
    expect(await client.command("USER alice")).toMatch(/^\+OK/);
    expect(await client.command("PASS wonderland")).toMatch(/^\+OK/);
    client.close();

    await expect(
      RawClient.connect(t.tlsPort, { tls: { maxVersion: "TLSv1.1", minVersion: "TLSv1" } }),
    ).rejects.toThrow();
  });

  it("answers clients that send no SNI (an IP address) with the default certificate", async () => {
    t = await startServer();
    const client = await RawClient.connect(t.tlsPort, { tls: { ca: certificate().cert } });
    expect(client.tlsSocket?.authorized).toBe(true);
    expect(await client.line()).toMatch(/^\+OK/);
    client.close();
  });

  it("picks the certificate by SNI", async () => {
    const other = certificate("mail.example.test");
    t = await startServer({ tls: { ...certificate(), sni: { "mail.example.test": other } } });
    const named = await RawClient.connect(t.tlsPort, { tls: { servername: "mail.example.test" } });
    const fallback = await RawClient.connect(t.tlsPort, { tls: { servername: "localhost" } });
    const subject = (c: RawClient) =>
      new X509Certificate(c.tlsSocket?.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).subject;
    expect(subject(named)).toContain("CN=mail.example.test");
    expect(subject(fallback)).toContain("CN=localhost");
    named.close();
    fallback.close();
  });
});
