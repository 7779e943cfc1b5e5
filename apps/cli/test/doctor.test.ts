import { createTestServer } from "pop3-test-harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, PASSWORD, runCli, startFixture, USER } from "./helpers";

let f: Fixture;
beforeAll(async () => {
  // LOGIN-DELAY and EXPIRE 0, to see them reported.
  f = await startFixture({ server: { loginDelaySeconds: 1, expire: 0 } });
});
afterAll(async () => {
  await f.close();
});

const ids = (report: { findings: { id: string }[] }) => report.findings.map((x) => x.id);

describe("doctor", () => {
  it("STLS: TLS details, CAPA before and after STLS and after login, findings (JSON)", async () => {
    const r = await runCli(f.home, ["doctor", f.url, ...f.trust, "--json"], { env: f.env });
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.target).toEqual({ host: "127.0.0.1", port: f.server.port, tls: "starttls" });
    expect(report.capabilities.beforeTls).toEqual(expect.arrayContaining(["STLS", "USER", "UIDL"]));
    expect(report.capabilities.afterTls).not.toContain("STLS");
    expect(report.capabilities.afterLogin).toEqual(expect.arrayContaining(["UIDL", "TOP"]));
    expect(report.stls).toEqual({ offered: true, accepted: true });
    expect(report.tls).toMatchObject({
      protocol: expect.stringMatching(/^TLSv1\.[23]$/),
      cipher: expect.any(String),
      verified: true,
      verifyError: null,
      hostnameMatches: true,
      certificate: {
        subject: "CN=localhost",
        issuer: "CN=localhost",
        selfSigned: true,
        subjectAltName: expect.stringContaining("IP Address:127.0.0.1"),
      },
    });
    // The test certificate is valid for a week: "expires soon".
    expect(report.tls.certificate.daysLeft).toBeGreaterThanOrEqual(5);
    expect(report.tls.certificate.daysLeft).toBeLessThanOrEqual(7);
    expect(report.legacyTls).toEqual({ accepted: false, protocol: null });
    expect(report.apop).toBe(true);
    expect(report.loginMechanisms).toEqual([
      "USER",
      "APOP",
      "SASL PLAIN",
      "SASL LOGIN",
      "SASL CRAM-MD5",
    ]);
    expect(report.loginDelay).toEqual({ seconds: 1, perUser: false });
    expect(report.expire).toEqual({ days: 0, perUser: false });
    expect(report.login).toEqual({
      attempted: true,
      skipped: null,
      user: USER,
      ok: true,
      error: null,
    });
    expect(ids(report)).toEqual(
      expect.arrayContaining([
        "cleartext-login-before-tls",
        "certificate-expires-soon",
        "expire-0",
        "login-delay",
        "apop",
        "prefer-implicit-tls",
      ]),
    );
    expect(ids(report)).not.toContain("certificate-not-verified");
    expect(report.findings.filter((x: { level: string }) => x.level === "problem")).toEqual([]);
  });

  it("plain words for people", async () => {
    // Another user: LOGIN-DELAY is per user, and alice logged in just before.
    f.server.addUser("bob", "bob-pw");
    const r = await runCli(
      f.home,
      ["doctor", `pop3://bob@127.0.0.1:${f.server.port}`, ...f.trust],
      {
        env: { POP3_PASSWORD: "bob-pw" },
      },
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^pop3 doctor: 127\.0\.0\.1:\d+ \(STLS\)$/m);
    expect(r.out).toMatch(/^Before TLS$/m);
    expect(r.out).toMatch(/^TLS \(after STLS\)$/m);
    expect(r.out).toMatch(/verified\s+yes/);
    expect(r.out).toMatch(/expires\s+\S+ \(\d day\(s\)|expires\s+\S+ \(\d days? left\)/);
    expect(r.out).toMatch(/^After login$/m);
    expect(r.out).toMatch(/warning\s+before TLS the server already offers USER, PLAIN, LOGIN/);
    expect(r.out).toMatch(
      /warning\s+EXPIRE 0: the server deletes a message as soon as it is retrieved/,
    );
  });

  it("an untrusted certificate is a problem; login is not tried; without a password no login", async () => {
    const r = await runCli(f.home, ["doctor", f.url, "--json"], { env: f.env });
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.tls.verified).toBe(false);
    expect(report.tls.verifyError).toMatch(/SELF_SIGNED/);
    expect(ids(report)).toEqual(
      expect.arrayContaining(["certificate-not-verified", "login-skipped"]),
    );
    expect(report.login).toMatchObject({ attempted: false, skipped: "untrusted-certificate" });
    const anonymous = JSON.parse(
      (await runCli(f.home, ["doctor", f.url, ...f.trust, "--json"])).out,
    );
    expect(anonymous.login).toMatchObject({ attempted: false, skipped: "no-password" });
    expect(anonymous.capabilities.afterLogin).toBeNull();
    expect(ids(anonymous)).toContain("no-login");
  });

  it("implicit TLS (pop3s)", async () => {
    const r = await runCli(f.home, ["doctor", f.tlsUrl, ...f.trust, "--json", "--no-login"]);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.target.tls).toBe("implicit");
    expect(report.capabilities.beforeTls).toBeNull();
    expect(report.stls).toBeNull();
    expect(report.tls.verified).toBe(true);
    expect(ids(report)).not.toContain("prefer-implicit-tls");
  });

  it("a server without STLS; --tls none; a wrong password (exit 3)", async () => {
    const plain = await createTestServer({
      users: { [USER]: PASSWORD },
      server: { implementation: false },
    });
    try {
      const url = `pop3://${USER}@127.0.0.1:${plain.port}`;
      const noStls = JSON.parse(
        (await runCli(f.home, ["doctor", url, "--json", "--no-login"])).out,
      );
      expect(noStls.stls).toEqual({ offered: false, accepted: null });
      expect(noStls.tls).toBeNull();
      expect(ids(noStls)).toContain("no-stls");
      const none = await runCli(f.home, ["doctor", url, "--tls", "none", "--json"], {
        env: { POP3_PASSWORD: "wrong" },
      });
      expect(none.code).toBe(3);
      const report = JSON.parse(none.out);
      expect(ids(report)).toEqual(expect.arrayContaining(["no-tls", "login-failed"]));
      expect(report.login).toMatchObject({ attempted: true, ok: false });
      expect(none.out + none.err).not.toContain('wrong"');
    } finally {
      await plain.close();
    }
  });

  it("--trace shows the probe's protocol; nothing listening is exit 2", async () => {
    const r = await runCli(f.home, ["doctor", f.url, ...f.trust, "--trace", "--no-login"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^C: CAPA$/m);
    expect(r.err).toMatch(/^C: STLS$/m);
    const closed = await runCli(f.home, ["doctor", "pop3://127.0.0.1:1"]);
    expect(closed.code).toBe(2);
  });
});
