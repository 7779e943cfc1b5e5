import { describe, expect, it } from "vitest";
import { judge } from "../src/doctor/judge";
import type { DoctorObservations, TlsReport } from "../src/doctor/report";

/** `pop3 doctor`'s judge on hand-made reports: every rule without a server. */

const GOOD_CAPA = ["TOP", "UIDL", "PIPELINING", "RESP-CODES", "SASL PLAIN"];

function tls(overrides: Partial<TlsReport> = {}): TlsReport {
  return {
    protocol: "TLSv1.3",
    cipher: "TLS_AES_256_GCM_SHA384",
    name: "mail.example.org",
    certificate: {
      subject: "CN=mail.example.org",
      issuer: "CN=Example CA",
      subjectAltName: "DNS:mail.example.org",
      validFrom: "2026-01-01T00:00:00.000Z",
      validTo: "2027-01-01T00:00:00.000Z",
      daysLeft: 200,
      selfSigned: false,
      fingerprint256: "AA:BB",
      pinSha256: "qrs=",
    },
    verified: true,
    verifyError: null,
    hostnameMatches: true,
    ...overrides,
  };
}

/** A well-run implicit-TLS server, logged in: nothing to find. */
function report(overrides: Partial<DoctorObservations> = {}): DoctorObservations {
  return {
    target: { host: "mail.example.org", port: 995, tls: "implicit" },
    greeting: "POP3 ready",
    apop: false,
    capabilities: { beforeTls: null, afterTls: GOOD_CAPA, afterLogin: GOOD_CAPA },
    stls: null,
    tls: tls(),
    legacyTls: { accepted: false, protocol: null },
    pin: null,
    loginMechanisms: ["SASL PLAIN"],
    loginDelay: null,
    expire: null,
    login: { attempted: true, skipped: null, user: "alice", ok: true, error: null },
    ...overrides,
  };
}

const ids = (findings: { id: string }[]) => findings.map((f) => f.id);

describe("judge", () => {
  it("finds nothing on a well-run implicit-TLS server", () => {
    expect(judge(report())).toEqual([]);
  });

  it("--tls none is a problem; STLS on offer is pointed out", () => {
    const findings = judge(
      report({
        target: { host: "h", port: 110, tls: "none" },
        capabilities: { beforeTls: ["STLS", ...GOOD_CAPA], afterTls: null, afterLogin: null },
        tls: null,
        legacyTls: null,
      }),
    );
    expect(findings[0]).toMatchObject({ level: "problem", id: "no-tls" });
    expect(ids(findings)).toContain("stls-available");
  });

  it("STLS: not offered, refused, cleartext logins before TLS, STLS listed after TLS", () => {
    const starttls = { host: "h", port: 110, tls: "starttls" };
    const notOffered = judge(
      report({
        target: starttls,
        capabilities: { beforeTls: GOOD_CAPA, afterTls: null, afterLogin: null },
        stls: { offered: false, accepted: null },
        tls: null,
      }),
    );
    expect(notOffered.filter((f) => f.level === "problem").map((f) => f.id)).toEqual(["no-stls"]);
    const refused = judge(
      report({ target: starttls, stls: { offered: true, accepted: false }, tls: null }),
    );
    expect(ids(refused)).toContain("stls-refused");
    const tempting = judge(
      report({
        target: starttls,
        capabilities: {
          beforeTls: ["STLS", "USER", "SASL PLAIN LOGIN CRAM-MD5"],
          afterTls: ["STLS", ...GOOD_CAPA],
          afterLogin: GOOD_CAPA,
        },
        stls: { offered: true, accepted: true },
      }),
    );
    const cleartext = tempting.find((f) => f.id === "cleartext-login-before-tls");
    expect(cleartext?.message).toContain("USER, PLAIN, LOGIN");
    expect(cleartext?.message).not.toContain("CRAM-MD5");
    expect(ids(tempting)).toEqual(
      expect.arrayContaining(["stls-after-tls", "prefer-implicit-tls"]),
    );
  });

  it("TLS: old version, legacy versions accepted, untrusted, wrong name, expired, expiring", () => {
    const old = judge(
      report({
        tls: tls({ protocol: "TLSv1.1" }),
        legacyTls: { accepted: true, protocol: "TLSv1" },
      }),
    );
    expect(ids(old)).toEqual(["old-tls", "legacy-tls-accepted"]);
    const untrusted = judge(
      report({
        tls: tls({
          verified: false,
          verifyError: "self-signed certificate",
          hostnameMatches: false,
          certificate: {
            ...(tls().certificate as NonNullable<TlsReport["certificate"]>),
            selfSigned: true,
          },
        }),
      }),
    );
    expect(untrusted.map((f) => [f.level, f.id])).toEqual([
      ["problem", "certificate-not-verified"],
      ["problem", "certificate-name-mismatch"],
    ]);
    expect(untrusted[0]?.message).toContain("self-signed: trust it with --ca FILE or --pin-sha256");
    expect(untrusted[1]?.message).toContain("mail.example.org");
    const cert = tls().certificate as NonNullable<TlsReport["certificate"]>;
    expect(ids(judge(report({ tls: tls({ certificate: { ...cert, daysLeft: -3 } }) })))).toEqual([
      "certificate-expired",
    ]);
    const soon = judge(report({ tls: tls({ certificate: { ...cert, daysLeft: 29 } }) }));
    expect(soon).toEqual([
      expect.objectContaining({ level: "warning", id: "certificate-expires-soon" }),
    ]);
    expect(judge(report({ tls: tls({ certificate: { ...cert, daysLeft: 30 } }) }))).toEqual([]);
  });

  it("a matching pin makes an untrusted certificate a note; a wrong pin is a problem", () => {
    const untrusted = tls({ verified: false, verifyError: "self-signed certificate" });
    const pinned = judge(report({ tls: untrusted, pin: { matches: true } }));
    expect(pinned.map((f) => [f.level, f.id])).toEqual([["info", "certificate-pinned"]]);
    const wrong = judge(report({ pin: { matches: false } }));
    expect(wrong).toEqual([
      expect.objectContaining({
        level: "problem",
        id: "pin-mismatch",
        message: expect.stringContaining("qrs="),
      }),
    ]);
  });

  it("missing capabilities, no CAPA at all, APOP", () => {
    const bare = judge(
      report({ capabilities: { beforeTls: null, afterTls: ["USER"], afterLogin: null } }),
    );
    expect(ids(bare)).toEqual(["no-uidl", "no-top", "no-pipelining", "no-resp-codes"]);
    const none = judge(
      report({ capabilities: { beforeTls: null, afterTls: null, afterLogin: null }, apop: true }),
    );
    expect(ids(none)).toEqual(["no-capa", "apop"]);
  });

  it("LOGIN-DELAY (per user until logged in), EXPIRE 0 and EXPIRE n, NEVER says nothing", () => {
    const perUser = judge(
      report({
        loginDelay: { seconds: 900, perUser: true },
        capabilities: { beforeTls: null, afterTls: GOOD_CAPA, afterLogin: null },
        login: { attempted: false, skipped: "disabled", user: null, ok: null, error: null },
      }),
    );
    expect(perUser.find((f) => f.id === "login-delay")?.message).toContain("log in to see yours");
    const known = judge(report({ loginDelay: { seconds: 900, perUser: true } }));
    expect(known.find((f) => f.id === "login-delay")?.message).not.toContain("log in");
    expect(judge(report({ expire: { days: 0, perUser: false } }))).toEqual([
      expect.objectContaining({ level: "warning", id: "expire-0" }),
    ]);
    expect(ids(judge(report({ expire: { days: 30, perUser: false } })))).toEqual(["expire"]);
    expect(judge(report({ expire: { days: "NEVER", perUser: false } }))).toEqual([]);
  });

  it("the login: failed (its message), skipped for the certificate, no password, --no-login", () => {
    const failed = judge(
      report({
        login: {
          attempted: true,
          skipped: null,
          user: "a",
          ok: false,
          error: "login failed: [AUTH] no",
        },
      }),
    );
    expect(failed).toEqual([
      { level: "problem", id: "login-failed", message: "login failed: [AUTH] no" },
    ]);
    const skipped = (why: "no-password" | "untrusted-certificate" | "disabled") =>
      ids(
        judge(
          report({
            capabilities: { beforeTls: null, afterTls: GOOD_CAPA, afterLogin: null },
            login: { attempted: false, skipped: why, user: null, ok: null, error: null },
          }),
        ),
      );
    expect(skipped("untrusted-certificate")).toEqual(["login-skipped"]);
    expect(skipped("no-password")).toEqual(["no-login"]);
    expect(skipped("disabled")).toEqual([]);
  });
});
