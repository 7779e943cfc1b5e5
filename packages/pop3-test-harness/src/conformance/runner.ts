import type { Capabilities } from "pop3-core";
import { parseCapabilities } from "pop3-core";
import type { CheckDefinition } from "./check";
import { ALL_CHECKS } from "./checks/index";
import {
  CheckFailure,
  CheckSkip,
  type Discovery,
  errorMessage,
  type LoginMethod,
  RunContext,
} from "./context";
import { Probe } from "./probe";
import { summarize } from "./report";
import { clip, quote } from "./text";
import type { CheckInfo, CheckResult, ConformanceOptions, ConformanceReport } from "./types";

/** What every check tests, in report order (without running anything). */
export const CONFORMANCE_CHECKS: readonly CheckInfo[] = ALL_CHECKS.map(
  ({ id, title, rfc, section, reference, level }) => ({
    id,
    title,
    rfc,
    section,
    reference,
    level,
  }),
);

/**
 * Runs the POP3 conformance suite against a server and reports every check as pass, fail or
 * skip. It talks to the server over raw sockets and reads every answer with pop3-core.
 *
 * Throws only when the suite cannot start: no connection, no greeting, STLS refused with
 * `tls: "starttls"`, the credentials refused, or an unknown id in `only`.
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const known = new Set(ALL_CHECKS.map((c) => c.id));
  const unknown = (options.only ?? []).filter((id) => !known.has(id));
  if (unknown.length > 0)
    throw new TypeError(`unknown conformance check ids: ${unknown.join(", ")}`);
  const selected =
    options.only === undefined
      ? ALL_CHECKS
      : ALL_CHECKS.filter((c) => (options.only as readonly string[]).includes(c.id));

  const startedAt = new Date();
  const ctx = new RunContext(options);
  ctx.discovery = await discover(ctx);

  const results = new Map<string, CheckResult>();
  const phase = (name: CheckDefinition["phase"]) => selected.filter((c) => c.phase === name);

  const empty = phase("empty");
  if (empty.length > 0 && ctx.canSeed) {
    try {
      await ctx.clearMailbox();
    } catch (error) {
      ctx.seedError = errorMessage(error);
    }
  }
  for (const check of [...empty, ...phase("main"), ...phase("final")]) {
    results.set(check.id, await runCheck(ctx, check));
  }

  const checks = selected.map((c) => results.get(c.id) as CheckResult);
  return {
    target: { host: options.host, port: options.port, tls: ctx.tls },
    greeting: ctx.discovery.greetingText,
    capabilities: ctx.discovery.capaLinesBefore,
    capabilitiesAfterLogin: ctx.discovery.capaLinesAfter,
    seeded: ctx.canSeed,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    checks,
    summary: summarize(checks),
  };
}

async function runCheck(ctx: RunContext, check: CheckDefinition): Promise<CheckResult> {
  const info: CheckInfo = {
    id: check.id,
    title: check.title,
    rfc: check.rfc,
    section: check.section,
    reference: check.reference,
    level: check.level,
  };
  try {
    const note = await check.run(ctx);
    return note === undefined
      ? { ...info, result: "pass" }
      : { ...info, result: "pass", reason: clip(note) };
  } catch (error) {
    if (error instanceof CheckSkip) return { ...info, result: "skip", reason: clip(error.message) };
    if (error instanceof CheckFailure)
      return { ...info, result: "fail", reason: clip(error.message) };
    return { ...info, result: "fail", reason: clip(errorMessage(error)) };
  }
}

/** Greeting, CAPA before and after login, and how to log in. */
async function discover(ctx: RunContext): Promise<Discovery> {
  const { user } = ctx.credentials;
  const probe = await Probe.open(ctx.target());
  try {
    const greeting = probe.greeting;
    const first = await readCapa(probe);
    let caps = first.caps;
    let lines = first.lines;
    let capsCleartext = ctx.tls === "implicit" ? undefined : first.caps;
    if (ctx.tls === "starttls") {
      const answer = await probe.raw("STLS");
      if (!answer.status.reply.ok) {
        throw new Error(`STLS refused (tls: "starttls"): ${quote(answer.status.text)}`);
      }
      await probe.startTls();
      const again = await readCapa(probe);
      caps = again.caps;
      lines = again.lines;
    }
    if (caps === undefined) capsCleartext = undefined;
    const capa = caps !== undefined;
    const known = caps ?? parseCapabilities([]);
    const login = chooseLogin(known, capa, greeting.greeting.apopTimestamp !== undefined);
    ctx.discovery = {
      greeting: greeting.greeting,
      greetingText: greeting.text,
      capa,
      capsCleartext,
      caps: known,
      capsAfterLogin: undefined,
      capaLinesBefore: lines,
      capaLinesAfter: [],
      login,
    };
    const answer = await ctx.login(probe);
    if (!answer.reply.ok) {
      throw new Error(`cannot log in as ${user} (${login}): ${quote(answer.text)}`);
    }
    const after = await readCapa(probe);
    await probe.quit();
    return { ...ctx.discovery, capsAfterLogin: after.caps, capaLinesAfter: after.lines };
  } catch (error) {
    probe.destroy();
    if (error instanceof CheckFailure) throw new Error(error.message);
    throw error;
  }
}

async function readCapa(
  probe: Probe,
): Promise<{ caps: Capabilities | undefined; lines: string[] }> {
  const answer = await probe.raw("CAPA", true);
  if (!answer.status.reply.ok || answer.body === undefined) return { caps: undefined, lines: [] };
  const lines = Probe.lines(answer.body);
  return { caps: parseCapabilities(lines), lines };
}

function chooseLogin(caps: Capabilities, capa: boolean, apop: boolean): LoginMethod {
  if (!capa || caps.has("USER")) return "USER";
  const offered = caps.saslMechanisms;
  for (const mechanism of ["PLAIN", "LOGIN", "CRAM-MD5"] as const) {
    if (offered.includes(mechanism)) return mechanism;
  }
  return apop ? "APOP" : "USER";
}
