import { createServer, MemoryStore, type Pop3Server } from "pop3-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Probe, type ProbeTarget } from "../../src/conformance/probe";
import {
  type ConformanceTlsOptions,
  createSocketTransport,
  runConformance,
  runTranscript,
} from "../../src/index";
import { type Certificate, certificateFor, type TlsPeer, tlsPeer } from "../support/tls-peer";

/**
 * Which name the conformance probe and the transcript socket transport check the certificate
 * against, and which SNI they send: pop3-client's rule (`serverIdentity`). At an IP address the
 * certificate must name that IP and no SNI is sent (RFC 6066 §3); a `servername` replaces the
 * host for both, but is sent as SNI only when it is a name.
 */
const IP = certificateFor("IP:127.0.0.1");
const DNS = certificateFor("DNS:localhost");

/** pop3-server with only `certificate`, for whole conformance runs. */
async function serverWith(certificate: Certificate) {
  const server = createServer({
    store: new MemoryStore(),
    auth: {
      verifyPassword: async (user, password) =>
        user === "alice" && password.reveal() === "wonderland" ? { ok: true, user } : { ok: false },
    },
    plain: { host: "127.0.0.1", port: 0 },
    implicitTls: { host: "127.0.0.1", port: 0 },
    tls: certificate,
    allowCleartextAuth: true,
    limits: { failedLoginDelayMs: 0, shutdownGraceMs: 0 },
  });
  const addresses = await server.listen();
  return {
    server,
    port: addresses.plain?.port as number,
    tlsPort: addresses.implicitTls?.port as number,
  };
}

describe("runConformance and the certificate's names", () => {
  let ipOnly: { server: Pop3Server; port: number; tlsPort: number };
  let dnsOnly: { server: Pop3Server; port: number; tlsPort: number };
  beforeAll(async () => {
    ipOnly = await serverWith(IP);
    dnsOnly = await serverWith(DNS);
  });
  afterAll(async () => {
    await ipOnly?.server.close();
    await dnsOnly?.server.close();
  });

  const run = (
    target: { port: number; tlsPort: number },
    tls: "starttls" | "implicit",
    tlsOptions: ConformanceTlsOptions,
  ) =>
    runConformance({
      host: "127.0.0.1",
      port: tls === "implicit" ? target.tlsPort : target.port,
      tls,
      tlsOptions,
      user: "alice",
      password: "wonderland",
      only: ["rfc1939-greeting-positive"],
      timeoutMs: 5000,
    });

  it.each(["starttls", "implicit"] as const)(
    "accepts a certificate for IP:127.0.0.1 only at 127.0.0.1 (%s)",
    async (tls) => {
      const report = await run(ipOnly, tls, { ca: IP.cert });
      expect(report.checks.map((c) => [c.id, c.result])).toEqual([
        ["rfc1939-greeting-positive", "pass"],
      ]);
    },
  );

  it.each(["starttls", "implicit"] as const)(
    "refuses a certificate for DNS:localhost only at 127.0.0.1, unless told the servername (%s)",
    async (tls) => {
      await expect(run(dnsOnly, tls, { ca: DNS.cert })).rejects.toThrow(
        /IP: 127\.0\.0\.1 is not in the cert's list/,
      );
      const report = await run(dnsOnly, tls, { ca: DNS.cert, servername: "localhost" });
      expect(report.checks.map((c) => c.result)).toEqual(["pass"]);
    },
  );
});

describe("the SNI the probe and the socket transport send", () => {
  let peer: TlsPeer;
  beforeAll(async () => {
    peer = await tlsPeer(IP);
  });
  afterAll(() => peer?.close());

  /** The SNI of the handshakes `run` made. */
  async function sniOf(run: () => Promise<void>): Promise<(string | false)[]> {
    const before = peer.sni.length;
    await run();
    return peer.sni.slice(before);
  }

  const target = (implicitTls: boolean, servername?: string): ProbeTarget => ({
    host: "127.0.0.1",
    port: implicitTls ? peer.tlsPort : peer.port,
    implicitTls,
    tlsOptions: { ca: IP.cert, ...(servername === undefined ? {} : { servername }) },
    timeoutMs: 5000,
  });

  async function probe(implicitTls: boolean, servername?: string): Promise<void> {
    const probe = await Probe.open(target(implicitTls, servername));
    if (!implicitTls) {
      expect((await probe.raw("STLS")).status.reply.ok).toBe(true);
      await probe.startTls();
    }
    expect(probe.secure).toBe(true);
    expect((await probe.quit())?.reply.ok).toBe(true);
  }

  it("the probe sends none for an IP host, or an IP servername, and checks the IP", async () => {
    expect(await sniOf(() => probe(true))).toEqual([false]);
    expect(await sniOf(() => probe(false))).toEqual([false]);
    expect(await sniOf(() => probe(true, "127.0.0.1"))).toEqual([false]);
  });

  it("the probe sends a servername that is a name, and checks the certificate against it", async () => {
    // This certificate names only the IP: the servername, not the host, is what is checked.
    await expect(probe(true, "localhost")).rejects.toThrow(/Host: localhost\. is not cert's CN/);
    const dnsPeer = await tlsPeer(DNS);
    try {
      const before = dnsPeer.sni.length;
      for (const implicitTls of [true, false]) {
        const probe = await Probe.open({
          ...target(implicitTls, "localhost"),
          port: implicitTls ? dnsPeer.tlsPort : dnsPeer.port,
          tlsOptions: { ca: DNS.cert, servername: "localhost" },
        });
        if (!implicitTls) {
          await probe.raw("STLS");
          await probe.startTls();
        }
        expect(probe.secure).toBe(true);
        await probe.quit();
      }
      expect(dnsPeer.sni.slice(before)).toEqual(["localhost", "localhost"]);
    } finally {
      await dnsPeer.close();
    }
  });

  const transcript = (tls: "none" | "implicit") =>
    [
      "S: +OK ...",
      ...(tls === "none" ? ["C: STLS", "S: +OK ...", "starttls"] : []),
      "C: QUIT",
      "S: +OK ...",
      "expect-close",
    ].join("\n");

  it.each(["none", "implicit"] as const)(
    "the socket transport sends no IP as SNI, even one given as servername (tls %s)",
    async (tls) => {
      for (const servername of [undefined, "127.0.0.1"]) {
        const transport = createSocketTransport({
          host: "127.0.0.1",
          port: tls === "implicit" ? peer.tlsPort : peer.port,
          tls,
          tlsOptions: { ca: IP.cert, ...(servername === undefined ? {} : { servername }) },
        });
        const sni = await sniOf(async () => {
          const result = await runTranscript(transcript(tls), transport, { timeoutMs: 5000 });
          expect(result.ok, `servername ${servername}: ${result.report}`).toBe(true);
        });
        expect(sni, `servername ${servername}`).toEqual([false]);
      }
    },
  );

  it("the socket transport checks a name given as servername, and passes it to a custom check", async () => {
    const seen: string[] = [];
    const transport = createSocketTransport({
      host: "127.0.0.1",
      port: peer.tlsPort,
      tls: "implicit",
      tlsOptions: {
        ca: IP.cert,
        servername: "pop.example.org",
        checkServerIdentity: (hostname) => {
          seen.push(hostname);
          return undefined;
        },
      },
    });
    const result = await runTranscript(transcript("implicit"), transport, { timeoutMs: 5000 });
    expect(result.ok, result.report).toBe(true);
    expect(seen).toEqual(["pop.example.org"]);
    expect(peer.sni.at(-1)).toBe("pop.example.org");
  });
});
