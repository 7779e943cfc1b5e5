import { expect } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../../src/errors";

/** Runs `fn` and returns what it threw; fails the test when it returns normally. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  expect.unreachable("expected a throw");
}

/** Asserts that `fn` throws `RemoteProtocolError("POP3_PROTOCOL")`; returns its message. */
export function expectProtocolError(fn: () => unknown): string {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(RemoteProtocolError);
  expect((error as RemoteProtocolError).code).toBe("POP3_PROTOCOL");
  return (error as RemoteProtocolError).message;
}

/** Asserts that `fn` throws `LocalProtocolError("POP3_BAD_ARGUMENT")`; returns its message. */
export function expectBadArgument(fn: () => unknown): string {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(LocalProtocolError);
  expect((error as LocalProtocolError).code).toBe("POP3_BAD_ARGUMENT");
  return (error as LocalProtocolError).message;
}

/**
 * For fuzzing: `fn` may return, or throw `RemoteProtocolError("POP3_PROTOCOL")` with a message of
 * bounded size; anything else fails.
 */
export function expectValueOrProtocolError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteProtocolError);
    expect((error as RemoteProtocolError).code).toBe("POP3_PROTOCOL");
    expect((error as RemoteProtocolError).message.length).toBeLessThan(700);
  }
}

const encoder = new TextEncoder();

export function octets(text: string): number {
  return encoder.encode(text).length;
}
