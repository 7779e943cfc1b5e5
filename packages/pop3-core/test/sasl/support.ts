import { fc } from "@fast-check/vitest";
import { expect } from "vitest";
import type { Pop3Error } from "../../src/errors";
import {
  decodeBase64Strict,
  encodeBase64,
  type SaslClientMechanism,
  type SaslServerExchange,
  type SaslServerStep,
} from "../../src/sasl";

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Sends bytes through base64 as the session would, so both codecs sit on the test's path. */
export function wire(bytes: Uint8Array): Uint8Array {
  return decodeBase64Strict(encodeBase64(bytes));
}

/**
 * Plays a client mechanism against a server exchange. With `inline` the initial response goes on
 * the AUTH line; without it the client waits for the server's first challenge (RFC 5034 §4).
 */
export function runExchange(
  client: SaslClientMechanism,
  server: SaslServerExchange,
  inline: boolean,
): SaslServerStep {
  const initial = inline ? client.initialResponse() : undefined;
  let step = server.start(initial === undefined ? undefined : wire(initial));
  for (let round = 0; step.type === "challenge"; round++) {
    if (round > 5) throw new Error("the exchange does not end");
    step = server.step(wire(client.respond(wire(step.challenge))));
  }
  return step;
}

/** Runs `fn`, expecting it to throw; returns what it threw. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw, got none");
}

/**
 * Asserts `fn` throws a `Pop3Error` of the given class and code whose message, string form and
 * stack mention none of `secrets`.
 */
export function expectPop3Error(
  fn: () => unknown,
  errorClass: typeof Pop3Error,
  code: string,
  secrets: readonly string[] = [],
): void {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(errorClass);
  const pop3Error = error as Pop3Error;
  expect(pop3Error.code).toBe(code);
  const printed = `${pop3Error.message}\n${String(pop3Error)}\n${pop3Error.stack ?? ""}`;
  for (const secret of secrets) expect(printed).not.toContain(secret);
}

/** Asserts a step failed, with a reason that mentions none of `secrets`. */
export function expectFailed(step: SaslServerStep, secrets: readonly string[] = []): void {
  expect(step.type).toBe("failed");
  if (step.type !== "failed") return;
  expect(step.reason.length).toBeGreaterThan(0);
  for (const secret of secrets) expect(step.reason).not.toContain(secret);
}

export function expectChallenge(step: SaslServerStep): Uint8Array {
  expect(step.type).toBe("challenge");
  if (step.type !== "challenge") throw new Error("unreachable");
  return step.challenge;
}

export function expectDone(step: SaslServerStep) {
  expect(step.type).toBe("done");
  if (step.type !== "done") throw new Error("unreachable");
  return step.credentials;
}

/** Strings of VCHAR (0x21-0x7E): what a bearer token, host or other OAuth value may hold. */
export const visibleAscii = (minLength: number) =>
  fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
    minLength,
  });
