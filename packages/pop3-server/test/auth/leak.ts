import { inspect } from "node:util";
import { expect } from "vitest";

/** Every way the value could end up in a log, an error report or a JSON response. */
export function renderings(value: unknown): string[] {
  const out = [
    inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
    String(value),
  ];
  try {
    out.push(JSON.stringify(value) ?? "");
  } catch {
    // circular: inspect covers it
  }
  if (value instanceof Error) {
    out.push(value.message, value.stack ?? "");
    if (value.cause !== undefined) out.push(...renderings(value.cause));
  }
  return out;
}

/** Fails if any rendering of `value` contains any of `secrets` (each at least 4 characters). */
export function expectNoLeak(value: unknown, secrets: readonly string[]): void {
  const text = renderings(value).join("\n");
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThanOrEqual(4);
    expect(text).not.toContain(secret);
  }
}

/** Runs `fn`, expects it to reject, and returns the error. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

export const context = { remoteAddress: "192.0.2.1", tls: true, mechanism: "USER" } as const;
