import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConformanceOptions,
  type ConformanceReport,
  formatTable,
  KNOWN_DEVIATIONS,
  runConformance,
} from "../../src/index";

/**
 * The suite against a real Dovecot (scripts/dovecot/dovecot.sh). It uses `carol` only (no
 * `secondUser`: pop3-client's interop suite owns bob and resets his mail, possibly at the same
 * time), empties her mail before and after, and keeps its sessions short.
 */
const env = process.env;
const host = env["POP3_DOVECOT_HOST"];
const required = env["POP3_REQUIRE_PEERS"] === "1";
const script = fileURLToPath(new URL("../../../../scripts/dovecot/dovecot.sh", import.meta.url));

function users(): Record<string, string> {
  const list = env["POP3_DOVECOT_USERS"] ?? "alice:alice-password,bob:bob-password";
  return Object.fromEntries(
    list.split(",").map((entry) => {
      const at = entry.indexOf(":");
      return [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}

function dovecot(args: string[], input?: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "bash",
      [script, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`dovecot.sh ${args.join(" ")} failed: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input === undefined ? undefined : Buffer.from(input));
  });
}

describe.runIf(host !== undefined || required)("conformance suite against Dovecot", () => {
  const accounts = users();
  let ca: string;

  beforeAll(async () => {
    if (host === undefined) return;
    ca = await readFile(env["POP3_DOVECOT_CA"] as string, "utf8");
    await dovecot(["reset-mail", "carol"]);
  });
  afterAll(async () => {
    if (host !== undefined) await dovecot(["reset-mail", "carol"]);
  });

  function options(extra: Partial<ConformanceOptions> = {}): ConformanceOptions {
    return {
      host: host as string,
      port: Number(env["POP3_DOVECOT_PORT"] ?? 11110),
      tls: "starttls",
      tlsOptions: { ca, servername: "localhost" },
      user: "carol",
      password: accounts["carol"] as string,
      seed: async (user, messages) => {
        for (const message of messages) await dovecot(["deliver", user, "-"], message);
      },
      ...extra,
    };
  }

  const failed = (report: ConformanceReport) =>
    Object.fromEntries(
      report.checks.filter((c) => c.result === "fail").map((c) => [c.id, c.reason ?? ""]),
    );

  const deviations = Object.keys(KNOWN_DEVIATIONS).sort();

  it("fails exactly the known deviations (STLS, seeded)", async () => {
    expect(host, "POP3_REQUIRE_PEERS=1 but POP3_DOVECOT_HOST is not set").toBeDefined();
    const report = await runConformance(options());
    expect(Object.keys(failed(report)).sort(), formatTable(report)).toEqual(deviations);
    // Dovecot has no UTF8 or LANG, and no lock to give [IN-USE]; bob is not ours to use.
    expect(report.checks.filter((c) => c.result === "skip").map((c) => c.id)).toEqual([
      "rfc2449-in-use-code",
      "rfc1939-lock-per-maildrop",
      "rfc6856-utf8-authorization",
      "rfc6856-utf8-wrong-state",
      "rfc6856-lang-list",
    ]);
  }, 120_000);

  it("fails exactly the known deviations read-only over implicit TLS, on the mail left", async () => {
    expect(host, "POP3_REQUIRE_PEERS=1 but POP3_DOVECOT_HOST is not set").toBeDefined();
    const { seed: _, ...rest } = options({
      port: Number(env["POP3_DOVECOT_TLS_PORT"] ?? 11995),
      tls: "implicit",
    });
    const report = await runConformance(rest);
    expect(Object.keys(failed(report)).sort(), formatTable(report)).toEqual(deviations);
    // The read-only checks ran on real mail (the seeded run left four messages).
    const sizes = report.checks.find((c) => c.id === "rfc1939-size-matches-retr");
    expect(sizes?.result).toBe("pass");
    expect(sizes?.reason).toBe("4 messages");
  }, 120_000);
});
