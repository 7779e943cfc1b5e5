import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClientOptions, connect, serverIdentity } from "../src/index";
import { type Certificate, certificateFor, type TlsPeer, tlsPeer } from "./tls-peer";

/**
 * Which name the certificate is checked against: the IP when the host is one (no SNI, RFC 6066
 * §3), or the `servername` option when given. Both ways of starting TLS take the same path.
 */
describe.each(["implicit", "starttls"] as const)("certificate names with %s TLS", (tls) => {
  let localhostOnly: { certificate: Certificate; peer: TlsPeer };
  let ipOnly: { certificate: Certificate; peer: TlsPeer };

  beforeAll(async () => {
    const dns = certificateFor("DNS:localhost");
    const ip = certificateFor("IP:127.0.0.1");
    localhostOnly = { certificate: dns, peer: await tlsPeer(dns) };
    ipOnly = { certificate: ip, peer: await tlsPeer(ip) };
  });
  afterAll(async () => {
    await localhostOnly?.peer.close();
    await ipOnly?.peer.close();
  });

  function dial(
    target: { certificate: Certificate; peer: TlsPeer },
    tlsOptions: NonNullable<ClientOptions["tlsOptions"]> = {},
  ) {
    return connect({
      host: "127.0.0.1",
      port: tls === "implicit" ? target.peer.tlsPort : target.peer.port,
      tls,
      tlsOptions: { ca: target.certificate.cert, ...tlsOptions },
      timeouts: { connect: 5000, greeting: 5000, command: 5000 },
    });
  }

  it("rejects a certificate for DNS:localhost only at 127.0.0.1", async () => {
    const error = await dial(localhostOnly).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_TLS" });
    expect((error as Error).message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it("accepts a certificate for IP:127.0.0.1 at 127.0.0.1, and sends no SNI", async () => {
    const before = ipOnly.peer.sni.length;
    await using client = await dial(ipOnly);
    expect(client.secure).toBe(true);
    expect(client.tlsInfo?.authorized).toBe(true);
    expect(ipOnly.peer.sni.slice(before)).toEqual([false]);
  });

  it("checks against the servername when one is given, and sends it as SNI", async () => {
    const before = localhostOnly.peer.sni.length;
    await using client = await dial(localhostOnly, { servername: "localhost" });
    expect(client.tlsInfo?.authorized).toBe(true);
    expect(localhostOnly.peer.sni.slice(before)).toEqual(["localhost"]);

    const error = await dial(ipOnly, { servername: "localhost" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_TLS" });
    expect((error as Error).message).toMatch(/Host: localhost\. is not cert's CN/);
  });

  it("with rejectUnauthorized off, connects but reports the name mismatch", async () => {
    await using client = await dial(localhostOnly, { rejectUnauthorized: false });
    expect(client.tlsInfo).toMatchObject({ authorized: false });
    expect(client.tlsInfo?.authorizationError).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });
});

describe("serverIdentity", () => {
  it("sends SNI for host names only, and always names what the certificate must match", () => {
    expect(serverIdentity("mail.example.org").name).toBe("mail.example.org");
    expect(serverIdentity("mail.example.org").tlsOptions.servername).toBe("mail.example.org");
    expect(serverIdentity("127.0.0.1").tlsOptions.servername).toBeUndefined();
    expect(serverIdentity("::1").tlsOptions.servername).toBeUndefined();
    expect(serverIdentity("127.0.0.1", "pop.example.org")).toMatchObject({
      name: "pop.example.org",
      tlsOptions: { servername: "pop.example.org" },
    });
    expect(serverIdentity("pop.example.org", "192.0.2.7").name).toBe("192.0.2.7");
    expect(serverIdentity("pop.example.org", "192.0.2.7").tlsOptions.servername).toBeUndefined();
  });
});
