import type { RunContext } from "./context";
import type { CheckInfo, ConformanceLevel } from "./types";

/**
 * When a check runs: `empty` right after the suite emptied the mailbox (before seeding), `main`
 * on the seeded (or untouched) mailbox, `final` after everything else (the checks that look at
 * every line the server sent during the run).
 */
export type CheckPhase = "empty" | "main" | "final";

/** A check: what it tests, and the test. `run` passes by returning (optionally with a note). */
export interface CheckDefinition extends CheckInfo {
  readonly phase: CheckPhase;
  /** Needs the seeded mailbox (the runner seeds before the first one runs). */
  readonly seeded: boolean;
  readonly run: (ctx: RunContext) => Promise<string | undefined>;
}

export interface CheckSpec {
  readonly id: string;
  readonly title: string;
  /** `RFC 1939 §4` */
  readonly reference: `RFC ${number} §${string}`;
  readonly level: ConformanceLevel;
  readonly phase?: CheckPhase;
  readonly seeded?: boolean;
}

export function defineCheck(
  spec: CheckSpec,
  /** Resolves to a note for the report, or nothing; throws (via `fail`/`skip`) otherwise. */
  run: (ctx: RunContext) => Promise<unknown>,
): CheckDefinition {
  const [rfc, section] = spec.reference.split(" §") as [string, string];
  return {
    id: spec.id,
    title: spec.title,
    rfc,
    section: `§${section}`,
    reference: spec.reference,
    level: spec.level,
    phase: spec.phase ?? "main",
    seeded: spec.seeded ?? false,
    run: async (ctx) => {
      const note = await run(ctx);
      return typeof note === "string" ? note : undefined;
    },
  };
}
