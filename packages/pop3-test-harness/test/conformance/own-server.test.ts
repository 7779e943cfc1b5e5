import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CONFORMANCE_CHECKS,
  type ConformanceOptions,
  type ConformanceReport,
  createTestServer,
  formatTable,
  runConformance,
  type TestServer,
} from "../../src/index";

const PASSWORDS = { alice: "wonderland", bob: "builder", carol: "carol-secret-42" };

let server: TestServer;
beforeAll(async () => {
  server = await createTestServer({ tls: true, users: PASSWORDS });
  // Carol's mailbox is used read-only: awkward mail the suite did not seed.
  server.addMessage("carol", "Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n");
  server.addMessage("carol", "Subject: bare LF\n\none\n.two\nthree\n");
  server.addMessage("carol", "Subject: no final newline\r\n\r\nlast line without CRLF");
  server.addMessage(
    "carol",
    Buffer.concat([Buffer.from("Subject: 8bit\r\n\r\n"), Buffer.from([0, 0xff, 0x80, 13, 10])]),
  );
});
afterAll(() => server.close());

function options(extra: Partial<ConformanceOptions> = {}): ConformanceOptions {
  return {
    host: server.host,
    port: server.port,
    tls: "starttls",
    tlsOptions: { ca: server.certificate?.cert as string, servername: "localhost" },
    user: "alice",
    password: PASSWORDS.alice,
    secondUser: { user: "bob", password: PASSWORDS.bob },
    seed: async (user, messages) => {
      for (const message of messages) server.addMessage(user, message);
    },
    ...extra,
  };
}

function results(report: ConformanceReport, result: "pass" | "fail" | "skip") {
  return Object.fromEntries(
    report.checks.filter((c) => c.result === result).map((c) => [c.id, c.reason ?? ""]),
  );
}

/** Checks that need the suite's own mail. */
const SEEDED_ONLY = [
  "rfc1939-retr-dot-stuffing",
  "rfc1939-top-dot-stuffing",
  "rfc1939-dele-numbering",
  "rfc1939-deleted-message-refused",
  "rfc1939-deleted-message-hidden",
  "rfc1939-rset-unmarks",
  "rfc1939-drop-no-update",
  "rfc1939-quit-removes",
];

describe("conformance suite against pop3-server", () => {
  it("passes every check with STLS and seeding, skipping none", async () => {
    const report = await runConformance(options());
    expect(results(report, "fail"), formatTable(report)).toEqual({});
    expect(results(report, "skip")).toEqual({});
    expect(report.checks.map((c) => c.id)).toEqual(CONFORMANCE_CHECKS.map((c) => c.id));
    expect(report.summary.total).toEqual({ pass: CONFORMANCE_CHECKS.length, fail: 0, skip: 0 });
    expect(report.seeded).toBe(true);
    expect(report.capabilities).not.toContain("STLS");
    // The seeded mailbox is left with the sacrificial message removed.
    expect(server.messages("alice")).toHaveLength(4);
  });

  it("passes over implicit TLS", async () => {
    const report = await runConformance(
      options({ port: server.tlsPort as number, tls: "implicit" }),
    );
    expect(results(report, "fail"), formatTable(report)).toEqual({});
    // STLS is not offered on the implicit-TLS port, so its checks cannot run.
    expect(Object.keys(results(report, "skip"))).toEqual([
      "rfc2595-stls-capa-after-tls",
      "rfc2595-stls-no-injection",
    ]);
  });

  it("runs read-only without seed, and skips what needs seeding", async () => {
    const before = server.messages("carol").map((m) => m.uid);
    const { seed: _, ...rest } = options({ tls: "none", user: "carol", password: PASSWORDS.carol });
    const report = await runConformance(rest);
    expect(results(report, "fail"), formatTable(report)).toEqual({});
    const skipped = results(report, "skip");
    expect(Object.keys(skipped).sort()).toEqual([...SEEDED_ONLY, "rfc1939-list-empty"].sort());
    for (const id of SEEDED_ONLY) expect(skipped[id]).toMatch(/needs seeding/);
    expect(report.seeded).toBe(false);
    // Nothing was deleted, and the read-only variants looked at carol's real mail.
    expect(server.messages("carol").map((m) => m.uid)).toEqual(before);
    expect(report.checks.find((c) => c.id === "rfc1939-size-matches-retr")?.reason).toBe(
      "4 messages",
    );
  });

  it("runs only the selected checks, in report order", async () => {
    const only = ["rfc2449-pipelining", "rfc1939-greeting-positive"];
    const report = await runConformance(options({ only }));
    expect(report.checks.map((c) => c.id)).toEqual([
      "rfc1939-greeting-positive",
      "rfc2449-pipelining",
    ]);
    await expect(runConformance(options({ only: ["no-such-check"] }))).rejects.toThrow(
      /unknown conformance check ids: no-such-check/,
    );
  });

  it("reports as plain JSON and as an aligned plain-text table, never with a password", async () => {
    const report = await runConformance(options({ tls: "none" }));
    const json = JSON.stringify(report);
    expect(JSON.parse(json)).toEqual(report);
    expect(json).not.toContain(PASSWORDS.alice);
    expect(json).not.toContain(PASSWORDS.bob);

    const table = formatTable(report);
    expect(table).not.toContain(PASSWORDS.alice);
    expect(table.includes("\u001b")).toBe(false);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^check +level +result +reason$/);
    const levelColumn = (lines[0] as string).indexOf("level");
    for (const check of report.checks) {
      const row = lines.find((l) => l.startsWith(`${check.id} `)) as string;
      expect(row.indexOf(check.level, check.id.length)).toBe(levelColumn);
    }
    expect(table).toContain(`MUST   ${report.summary.MUST.pass} pass, 0 fail`);
    for (const check of report.checks) {
      expect(check.reference).toBe(`${check.rfc} ${check.section}`);
      expect(["MUST", "SHOULD", "MAY"]).toContain(check.level);
    }
  });

  it("refuses to start with credentials the server refuses", async () => {
    await expect(runConformance(options({ password: "not-the-password" }))).rejects.toThrow(
      /cannot log in as alice/,
    );
  });
});
