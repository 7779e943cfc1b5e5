import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, runCli, startFixture, USER } from "./helpers";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
  f.server.addMessage(USER, "Subject: one\r\n\r\n.dot\r\nhello\r\n");
});
afterAll(async () => {
  await f.close();
});

describe("conformance", () => {
  it("prints the harness's table and exits 0 when every MUST passes", async () => {
    const r = await runCli(f.home, ["conformance", f.url, ...f.trust], { env: f.env });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^check\s+level\s+result\s+reason$/m);
    expect(r.out).toMatch(/^rfc1939-greeting-positive\s+MUST\s+pass/m);
    expect(r.out).toMatch(/^MUST\s+\d+ pass, 0 fail, \d+ skip$/m);
  });

  it("--json gives the report; --only picks checks", async () => {
    const r = await runCli(
      f.home,
      [
        "conformance",
        f.url,
        ...f.trust,
        "--json",
        "--only",
        "rfc1939-greeting-positive,rfc2449-capa",
      ],
      { env: f.env },
    );
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.checks.map((c: { id: string }) => c.id)).toEqual([
      "rfc1939-greeting-positive",
      "rfc2449-capa",
    ]);
    expect(report.checks[0]).toMatchObject({ level: "MUST", result: "pass", rfc: "RFC 1939" });
    expect(report.summary.MUST).toEqual({ pass: 2, fail: 0, skip: 0 });
  });

  it("exit 5 when a MUST fails (a server that refuses UIDL)", async () => {
    // Faults are injected in cleartext, so this run does not use STLS.
    f.server.faults.add({ on: "UIDL", fault: { type: "error", text: "no UIDL" } });
    try {
      const r = await runCli(f.home, ["conformance", f.url, "--tls", "none"], { env: f.env });
      expect(r.code).toBe(5);
      expect(r.out).toMatch(/^rfc1939-uidl-format\s+MUST\s+fail/m);
      expect(r.err).toMatch(/MUST checks? failed/);
    } finally {
      f.server.faults.clear();
    }
  });

  it("usage errors: an unknown check id, no password", async () => {
    const unknown = await runCli(
      f.home,
      ["conformance", f.url, ...f.trust, "--only", "no-such-check"],
      { env: f.env },
    );
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/unknown conformance check ids: no-such-check/);
    const noPassword = await runCli(f.home, ["conformance", f.url, ...f.trust]);
    expect(noPassword.code).toBe(1);
  });
});
