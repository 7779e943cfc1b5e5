import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTestServer, generateCertificate, type TestServer } from "pop3-test-harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeDir, runCli, tempDir } from "./helpers";

/**
 * At an IP address the certificate must list that IP (or the --servername), with implicit TLS and
 * STLS alike; `doctor` judges the certificate by the same rule, so the two never contradict.
 */
describe("certificate names at an IP address", () => {
  let home: string;
  let localhostOnly: { peer: TestServer; ca: string };
  let ipOnly: { peer: TestServer; ca: string };

  beforeAll(async () => {
    home = await tempDir();
    const start = async (name: string, file: string) => {
      const certificate = await generateCertificate({ onlyNames: [name] });
      const ca = join(home, file);
      await writeFile(ca, certificate.cert);
      return { peer: await createTestServer({ tls: certificate }), ca };
    };
    localhostOnly = await start("localhost", "localhost.pem");
    ipOnly = await start("127.0.0.1", "ip.pem");
  });
  afterAll(async () => {
    await localhostOnly?.peer.close();
    await ipOnly?.peer.close();
    await removeDir(home);
  });

  const urls = (peer: TestServer) => [
    peer.tlsUrl as string,
    peer.url, // STLS
  ];

  it("refuses a certificate for DNS:localhost only, and says to use --servername", async () => {
    for (const url of urls(localhostOnly.peer)) {
      const r = await runCli(home, ["capa", url, "--ca", localhostOnly.ca]);
      expect(r.code, `${url}: ${r.err}`).toBe(2);
      expect(r.err).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
      expect(r.err).toMatch(/--servername NAME/);
    }
  });

  it("accepts a certificate for IP:127.0.0.1", async () => {
    for (const url of urls(ipOnly.peer)) {
      const r = await runCli(home, ["capa", url, "--ca", ipOnly.ca]);
      expect(r.code, `${url}: ${r.err}`).toBe(0);
      expect(r.out).toMatch(/USER/);
    }
  });

  it("verifies against --servername when given", async () => {
    for (const url of urls(localhostOnly.peer)) {
      const r = await runCli(home, [
        "capa",
        url,
        "--ca",
        localhostOnly.ca,
        "--servername",
        "localhost",
      ]);
      expect(r.code, `${url}: ${r.err}`).toBe(0);
    }
    const wrong = await runCli(home, [
      "capa",
      urls(ipOnly.peer)[0] as string,
      ...["--ca", ipOnly.ca, "--servername", "localhost"],
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/Host: localhost\./);
  });

  it("doctor judges the names as the client does", async () => {
    const doctor = async (url: string, ca: string, extra: string[] = []) => {
      const r = await runCli(home, ["doctor", url, "--ca", ca, "--json", ...extra]);
      return JSON.parse(r.out) as {
        tls: { verified: boolean; hostnameMatches: boolean };
        findings: { id: string }[];
      };
    };
    for (const [i, url] of urls(localhostOnly.peer).entries()) {
      const refused = await doctor(url, localhostOnly.ca);
      expect(refused.tls, url).toMatchObject({ verified: false, hostnameMatches: false });
      expect(refused.findings.map((f) => f.id)).toContain("certificate-name-mismatch");
      const named = await doctor(url, localhostOnly.ca, ["--servername", "localhost"]);
      expect(named.tls, url).toMatchObject({ verified: true, hostnameMatches: true });
      const accepted = await doctor(urls(ipOnly.peer)[i] as string, ipOnly.ca);
      expect(accepted.tls, url).toMatchObject({ verified: true, hostnameMatches: true });
    }
  });
});
