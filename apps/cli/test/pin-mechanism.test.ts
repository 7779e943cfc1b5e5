import { createHash, X509Certificate } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTestServer } from "pop3-test-harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, PASSWORD, removeDir, runCli, startFixture, tempDir, USER } from "./helpers";

/**
 * --pin-sha256 (the certificate doctor prints), --mechanism and --quiet/--verbose, against the
 * harness's real pop3-server over real TLS, and against Dovecot when it runs.
 */

let f: Fixture;
/** The test server's certificate pin, computed here from its PEM (not from the CLI). */
let pin: string;
beforeAll(async () => {
  f = await startFixture();
  f.server.addMessage(USER, "Subject: one\r\n\r\nhello\r\n");
  const der = new X509Certificate(f.server.certificate?.cert ?? "").raw;
  pin = createHash("sha256").update(der).digest("base64");
});
afterAll(async () => {
  await f.close();
});

const otherPin = createHash("sha256").update("another certificate").digest("base64");

describe("--pin-sha256", () => {
  it("doctor prints the certificate's pin-sha256 (text and JSON) and checks a given pin", async () => {
    const text = await runCli(f.home, ["doctor", f.url, ...f.trust, "--no-login"]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(
      new RegExp(`^\\s+pin-sha256\\s+${pin.replace(/[+/]/g, "\\$&")}$`, "m"),
    );
    const json = JSON.parse(
      (await runCli(f.home, ["doctor", f.tlsUrl, "--json", "--no-login"])).out,
    );
    expect(json.tls.certificate.pinSha256).toBe(pin);
    expect(json.pin).toBeNull();
    // Given the right pin, the self-signed certificate is pinned, not a problem; the login runs.
    const pinned = JSON.parse(
      (await runCli(f.home, ["doctor", f.url, "--pin-sha256", pin, "--json"], { env: f.env })).out,
    );
    expect(pinned.pin).toEqual({ matches: true });
    const ids = pinned.findings.map((x: { id: string }) => x.id);
    expect(ids).toContain("certificate-pinned");
    expect(ids).not.toContain("certificate-not-verified");
    expect(pinned.login).toMatchObject({ attempted: true, ok: true });
    const wrong = JSON.parse(
      (
        await runCli(f.home, ["doctor", f.url, ...f.trust, "--pin-sha256", otherPin, "--json"], {
          env: f.env,
        })
      ).out,
    );
    expect(wrong.pin).toEqual({ matches: false });
    expect(wrong.findings).toContainEqual(
      expect.objectContaining({ level: "problem", id: "pin-mismatch" }),
    );
    expect(wrong.login).toMatchObject({ attempted: true, ok: false });
  });

  it("the pinned certificate is trusted without --ca (STLS and implicit TLS; base64 or hex)", async () => {
    const hex = createHash("sha256")
      .update(new X509Certificate(f.server.certificate?.cert ?? "").raw)
      .digest("hex")
      .toUpperCase()
      .replace(/(..)(?!$)/g, "$1:");
    for (const args of [
      ["stat", f.url, "--pin-sha256", pin],
      ["stat", f.tlsUrl, "--pin-sha256", `sha256//${pin}`],
      ["stat", f.url, "--pin-sha256", hex],
      // One of several pins (a certificate being replaced).
      ["stat", f.url, "--pin-sha256", otherPin, "--pin-sha256", pin],
    ]) {
      const r = await runCli(f.home, [...args, "--json"], { env: f.env });
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(0);
      expect(JSON.parse(r.out).count).toBe(1);
    }
  });

  it("another certificate: exit 2, POP3_PIN_MISMATCH, and no login is tried", async () => {
    const before = f.server.stats();
    for (const url of [f.url, f.tlsUrl]) {
      const r = await runCli(
        f.home,
        ["stat", url, ...f.trust, "--pin-sha256", otherPin, "--json"],
        {
          env: f.env,
        },
      );
      expect(r.code).toBe(2);
      const error = JSON.parse(r.out).error;
      expect(error.code).toBe("POP3_PIN_MISMATCH");
      expect(error.message).toContain(`its pin-sha256 is ${pin}`);
      expect(r.err).not.toContain(PASSWORD);
    }
    const after = f.server.stats();
    expect(after.sessions).toBe(before.sessions);
    expect(after.authFailures).toBe(before.authFailures);
  });

  it("a pin needs TLS; a pin that is not one is a usage error", async () => {
    const none = await runCli(f.home, ["stat", f.url, "--tls", "none", "--pin-sha256", pin], {
      env: f.env,
    });
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--pin-sha256 needs TLS/);
    const bad = await runCli(f.home, ["stat", f.url, "--pin-sha256", "abc"], { env: f.env });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/not a SHA-256 pin/);
  });
});

describe("--mechanism", () => {
  it("logs in with exactly the mechanism asked for", async () => {
    const expected: Record<string, RegExp> = {
      USER: /^C: PASS \*\*\*$/m,
      APOP: /^C: APOP alice \*\*\*$/m,
      PLAIN: /^C: AUTH PLAIN/m,
      LOGIN: /^C: AUTH LOGIN$/m,
      "CRAM-MD5": /^C: AUTH CRAM-MD5$/m,
    };
    for (const [mechanism, line] of Object.entries(expected)) {
      const r = await runCli(
        f.home,
        ["stat", f.url, ...f.trust, "--mechanism", mechanism.toLowerCase(), "--trace"],
        { env: f.env },
      );
      expect(r.code, `${mechanism}: ${r.err}`).toBe(0);
      expect(r.err).toMatch(line);
      expect(r.err).not.toContain(PASSWORD);
    }
  });

  it("a mechanism the server does not offer: exit 3 before anything is sent; a name that is none: exit 1", async () => {
    const before = f.server.stats();
    const r = await runCli(
      f.home,
      ["stat", f.url, ...f.trust, "--mechanism", "XOAUTH2", "--json"],
      {
        env: f.env,
      },
    );
    expect(r.code).toBe(3);
    const error = JSON.parse(r.out).error;
    expect(error.code).toBe("POP3_MECHANISM_UNAVAILABLE");
    expect(error.message).toMatch(
      /does not offer XOAUTH2.*it offers USER, APOP, PLAIN, LOGIN, CRAM-MD5/,
    );
    const after = f.server.stats();
    expect(after.sessions).toBe(before.sessions);
    expect(after.authFailures).toBe(before.authFailures);
    // No APOP without a timestamp in the greeting.
    const noApop = await createTestServer({
      tls: true,
      users: { [USER]: PASSWORD },
      server: { apop: false },
    });
    try {
      const caFile = join(f.home, "no-apop.pem");
      await writeFile(caFile, noApop.certificate?.cert ?? "");
      const apop = await runCli(
        f.home,
        ["stat", `pop3://${USER}@127.0.0.1:${noApop.port}`, "--ca", caFile, "--mechanism", "APOP"],
        { env: f.env },
      );
      expect(apop.code).toBe(3);
      expect(apop.err).toMatch(/does not offer APOP/);
    } finally {
      await noApop.close();
    }
    const unknown = await runCli(f.home, ["stat", f.url, "--mechanism", "GSSAPI"], { env: f.env });
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/mechanism \(from --mechanism\): must be one of USER, APOP, PLAIN/);
  });
});

describe("--quiet and --verbose", () => {
  it("--verbose says where it connected (with the pin doctor prints) and how it logged in", async () => {
    const r = await runCli(
      f.home,
      ["stat", f.url, ...f.trust, "--verbose", "--mechanism", "CRAM-MD5"],
      { env: f.env },
    );
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      new RegExp(
        `^connected to 127\\.0\\.0\\.1:${f.server.port}: TLSv1\\.[23] \\(.+\\), certificate pin-sha256 ${pin.replace(/[+/]/g, "\\$&")}$`,
        "m",
      ),
    );
    expect(r.err).toMatch(/^logged in as alice with CRAM-MD5$/m);
    const normal = await runCli(f.home, ["stat", f.url, ...f.trust], { env: f.env });
    expect(normal.err).toBe("");
  });

  it("--quiet keeps the data and the errors, drops the remarks; not with --verbose", async () => {
    const dir = await tempDir();
    try {
      const file = join(dir, "m.eml");
      const normal = await runCli(f.home, ["retr", f.url, ...f.trust, "1", "-o", file], {
        env: f.env,
      });
      expect(normal.err).toMatch(/^wrote \d+ octets to /m);
      const quiet = await runCli(f.home, ["retr", f.url, ...f.trust, "1", "-o", file, "-q"], {
        env: f.env,
      });
      expect(quiet.code, quiet.err).toBe(0);
      expect(quiet.err).toBe("");
      const stat = await runCli(f.home, ["--quiet", "stat", f.url, ...f.trust], { env: f.env });
      expect(stat.out).toMatch(/^1 message, /);
      const failed = await runCli(f.home, ["stat", f.url, "--quiet"], { env: f.env });
      expect(failed.code).toBe(2);
      expect(failed.err).toMatch(/^error: /m);
      const both = await runCli(f.home, ["stat", f.url, "--quiet", "--verbose"], { env: f.env });
      expect(both.code).toBe(1);
      expect(both.err).toMatch(/cannot be used with/);
    } finally {
      await removeDir(dir);
    }
  });
});

const dovecotHost = process.env["POP3_DOVECOT_HOST"];

describe.skipIf(dovecotHost === undefined)("--pin-sha256 and --mechanism against Dovecot", () => {
  const env = process.env;
  const users = new Map(
    (env["POP3_DOVECOT_USERS"] ?? "").split(",").map((e) => e.split(":") as [string, string]),
  );
  // dave is the CLI's Dovecot user; these tests only log in and read STAT.
  const user = users.has("dave") ? "dave" : "alice";
  const password = users.get(user) ?? "";
  const url = `pop3://${user}@${dovecotHost}:${env["POP3_DOVECOT_PORT"] ?? 11110}`;
  const tlsUrl = `pop3s://${user}@${dovecotHost}:${env["POP3_DOVECOT_TLS_PORT"] ?? 11995}`;
  let home: string;
  beforeAll(async () => {
    home = await tempDir();
  });
  afterAll(async () => {
    await removeDir(home);
  });

  it("doctor's pin-sha256 of Dovecot's certificate lets stat in without --ca; another pin does not", async () => {
    const report = JSON.parse((await runCli(home, ["doctor", tlsUrl, "--json", "--no-login"])).out);
    const dovecotPin = report.tls.certificate.pinSha256 as string;
    const fromFile = createHash("sha256")
      .update(new X509Certificate(await readFile(env["POP3_DOVECOT_CA"] as string)).raw)
      .digest("base64");
    // Dovecot's CA file is its self-signed certificate: the pin is that file's SHA-256.
    expect(dovecotPin).toBe(fromFile);
    for (const target of [url, tlsUrl]) {
      const ok = await runCli(home, ["stat", target, "--pin-sha256", dovecotPin, "--json"], {
        env: { POP3_PASSWORD: password },
      });
      expect(ok.code, ok.err).toBe(0);
      const refused = await runCli(home, ["stat", target, "--pin-sha256", otherPin], {
        env: { POP3_PASSWORD: password },
      });
      expect(refused.code).toBe(2);
      expect(refused.err).toContain(dovecotPin);
    }
  });

  it("each of Dovecot's mechanisms when asked for; one it lacks is exit 3", async () => {
    for (const [mechanism, line] of [
      ["USER", /^C: PASS \*\*\*$/m],
      ["APOP", /^C: APOP /m],
      ["PLAIN", /^C: AUTH PLAIN/m],
      ["LOGIN", /^C: AUTH LOGIN$/m],
      ["CRAM-MD5", /^C: AUTH CRAM-MD5$/m],
    ] as const) {
      const r = await runCli(
        home,
        [
          "stat",
          url,
          "--ca",
          env["POP3_DOVECOT_CA"] as string,
          "--mechanism",
          mechanism,
          "--trace",
        ],
        { env: { POP3_PASSWORD: password } },
      );
      expect(r.code, `${mechanism}: ${r.err}`).toBe(0);
      expect(r.err).toMatch(line);
    }
    const missing = await runCli(
      home,
      ["stat", url, "--ca", env["POP3_DOVECOT_CA"] as string, "--mechanism", "OAUTHBEARER"],
      { env: { POP3_PASSWORD: password } },
    );
    expect(missing.code).toBe(3);
    expect(missing.err).toMatch(/does not offer OAUTHBEARER/);
  });
});
