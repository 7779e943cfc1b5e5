/**
 * Setup file of test/many-runs.config.ts: multiplies every property's runs by FC_NUM_RUNS_FACTOR,
 * so a rare counterexample shows up in CI's long run rather than at random in an ordinary one.
 * Properties with their own count go through `numRuns` (test/property-runs.ts), which scales too.
 */
import { fc } from "@fast-check/vitest";

const raw = process.env["FC_NUM_RUNS_FACTOR"] ?? "1";
const factor = Number(raw);
if (!Number.isFinite(factor) || factor <= 0) {
  throw new Error(`FC_NUM_RUNS_FACTOR must be a positive number, got ${JSON.stringify(raw)}`);
}
// 100 is fast-check's default numRuns.
fc.configureGlobal({ ...fc.readConfigureGlobal(), numRuns: Math.round(100 * factor) });
