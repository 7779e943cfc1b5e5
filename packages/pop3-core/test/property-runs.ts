import { fc } from "@fast-check/vitest";

/** fast-check's own default for `numRuns`. */
const DEFAULT_RUNS = 100;

/**
 * The runs a property with its own `numRuns` should make: `base` scaled by the same factor as the
 * global default. test/many-runs.setup.ts raises that default (FC_NUM_RUNS_FACTOR); a property
 * that names its own count would otherwise keep it and never get the extra runs. Read when the
 * test is declared, which is after the setup file has run.
 */
export function numRuns(base: number): number {
  const global = fc.readConfigureGlobal().numRuns ?? DEFAULT_RUNS;
  return Math.max(1, Math.round((base * global) / DEFAULT_RUNS));
}
