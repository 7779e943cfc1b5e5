import { afterEach, describe, expect, it } from "vitest";
import {
  CONFORMANCE_CHECKS,
  type ConformanceOptions,
  formatTable,
  runConformance,
} from "../../src/index";
import { type BrokenServer, createBrokenServer, type Faults } from "./broken-server";

const USERS = { alice: "wonderland", bob: "builder" };

let server: BrokenServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(faults: Faults): Promise<BrokenServer> {
  server = await createBrokenServer(USERS, faults);
  return server;
}

function options(
  target: BrokenServer,
  extra: Partial<ConformanceOptions> = {},
): ConformanceOptions {
  return {
    host: "127.0.0.1",
    port: target.port,
    tlsOptions: { ca: target.certificate.cert, servername: "localhost" },
    user: "alice",
    password: USERS.alice,
    secondUser: { user: "bob", password: USERS.bob },
    seed: async (user, messages) => {
      for (const message of messages) target.addMessage(user, message);
    },
    // Some faults make the suite wait for an answer that never comes.
    timeoutMs: 1000,
    ...extra,
  };
}

/** Each fault, and the checks that must fail because of it. */
const CASES: readonly (readonly [keyof Faults, readonly string[]])[] = [
  ["greetingErr", ["rfc1939-greeting-positive"]],
  ["longGreeting", ["rfc1939-greeting-length", "rfc2449-response-line-length"]],
  ["disconnectOnUnknown", ["rfc1939-unknown-command"]],
  ["lenientSyntax", ["rfc1939-invalid-arguments"]],
  ["transactionBeforeLogin", ["rfc1939-wrong-state-authorization"]],
  ["userAfterLogin", ["rfc1939-wrong-state-transaction"]],
  ["caseSensitive", ["rfc1939-keywords-case-insensitive"]],
  ["shortLines", ["rfc2449-command-line-255"]],
  ["passWithoutUser", ["rfc1939-pass-without-user"]],
  ["quitKeepsOpen", ["rfc1939-quit-authorization"]],
  ["fixedTimestamp", ["rfc1939-apop-timestamp-unique"]],
  ["apopBroken", ["rfc1939-apop"]],
  ["noLock", ["rfc1939-maildrop-lock"]],
  ["lockWithoutCode", ["rfc2449-in-use-code"]],
  ["globalLock", ["rfc1939-lock-per-maildrop"]],
  ["emptyListErr", ["rfc1939-list-empty"]],
  ["statWrongSize", ["rfc1939-stat-list-consistent"]],
  ["pastEndOk", ["rfc1939-no-such-message"]],
  ["sizesWithLf", ["rfc1939-size-matches-retr"]],
  ["noDotStuffing", ["rfc1939-retr-dot-stuffing", "rfc1939-top-dot-stuffing"]],
  ["topZeroWithoutBlank", ["rfc1939-top-zero"]],
  ["topTruncates", ["rfc1939-top-beyond-body"]],
  ["longUids", ["rfc1939-uidl-format"]],
  ["unstableUidl", ["rfc1939-uidl-stable"]],
  ["renumberAfterDele", ["rfc1939-dele-numbering"]],
  ["deletedVisible", ["rfc1939-deleted-message-refused", "rfc1939-deleted-message-hidden"]],
  ["rsetNoop", ["rfc1939-rset-unmarks"]],
  ["deleteOnDrop", ["rfc1939-drop-no-update"]],
  ["quitNoUpdate", ["rfc1939-quit-removes"]],
  ["capaRefusedAfterLogin", ["rfc2449-capa"]],
  [
    "capaDropsAfterLogin",
    ["rfc2449-capa-authorization-caps-after-login", "rfc5034-sasl-listed-after-login"],
  ],
  ["topOnlyAfterLogin", ["rfc2449-capa-transaction-caps-before-login"]],
  ["pipelineFirstOnly", ["rfc2449-pipelining"]],
  ["stlsListedAfterTls", ["rfc2595-stls-capa-after-tls"]],
  ["executeAfterStls", ["rfc2595-stls-no-injection"]],
  ["plaintextAfterStls", ["rfc2595-stls-no-injection"]],
  ["cancelIgnored", ["rfc5034-auth-cancel"]],
  ["lenientBase64", ["rfc5034-auth-invalid-base64"]],
  ["emptyIrAsNone", ["rfc5034-auth-empty-initial-response"]],
  ["reauth", ["rfc5034-auth-after-login"]],
  ["noAuthCode", ["rfc3206-auth-response-code"]],
  ["utf8Refused", ["rfc6856-utf8-authorization"]],
  ["utf8Anywhere", ["rfc6856-utf8-wrong-state"]],
  ["langEmpty", ["rfc6856-lang-list"]],
  ["lowercaseErr", ["rfc1939-status-upper-case"]],
  ["longErr", ["rfc2449-response-line-length"]],
  ["bracketText", ["rfc2449-resp-codes-well-formed"]],
  ["badCapaArgument", ["rfc2449-capa-arguments"]],
];

describe("conformance suite against a deliberately broken server", () => {
  it("passes every check when the server has no fault (the faults below are the only cause)", async () => {
    const target = await start({});
    const report = await runConformance(options(target));
    const bad = report.checks.filter((c) => c.result !== "pass");
    expect(bad, formatTable(report)).toEqual([]);
  });

  it("has a fault that makes each check fail", () => {
    const covered = new Set(CASES.flatMap(([, ids]) => ids));
    const uncovered = CONFORMANCE_CHECKS.map((c) => c.id).filter((id) => !covered.has(id));
    expect(uncovered).toEqual([]);
  });

  it.each(CASES)("fault %s fails %j", async (fault, ids) => {
    const target = await start({ [fault]: true });
    const report = await runConformance(options(target, { only: ids }));
    const results = Object.fromEntries(report.checks.map((c) => [c.id, c.result]));
    expect(results, formatTable(report)).toEqual(Object.fromEntries(ids.map((id) => [id, "fail"])));
    for (const check of report.checks) {
      expect(check.reason?.length ?? 0).toBeGreaterThan(0);
      expect(check.reason?.length ?? 0).toBeLessThanOrEqual(200);
    }
  });
});
