/**
 * Unknown users must take the same code path as known users with a wrong password, so that the
 * answer time does not reveal which user names exist. These tests watch the expensive step.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "pop3-core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { context, expectNoLeak, rejection } from "./leak";

const spies = vi.hoisted(() => ({
  scrypt: { calls: [] as { keyLength: number; options: unknown }[], fail: false },
  compare: { calls: [] as [number, number][] },
}));

vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  const scrypt = ((...args: unknown[]) => {
    const [password, salt, keyLength, options, callback] = args as [
      Buffer,
      Buffer,
      number,
      object,
      (error: Error | null, key: Buffer) => void,
    ];
    spies.scrypt.calls.push({ keyLength, options });
    if (spies.scrypt.fail) {
      callback(new Error("simulated failure"), Buffer.alloc(0));
      return;
    }
    original.scrypt(password, salt, keyLength, options, callback);
  }) as typeof original.scrypt;
  return { ...original, default: { ...original, scrypt }, scrypt };
});

vi.mock("pop3-core", async (importOriginal) => {
  const original = await importOriginal<typeof import("pop3-core")>();
  return {
    ...original,
    timingSafeEqual: (a: Uint8Array, b: Uint8Array) => {
      spies.compare.calls.push([a.length, b.length]);
      return original.timingSafeEqual(a, b);
    },
  };
});

const { hashPassword, staticUsers, userFile, verifyPasswordHash } = await import(
  "../../src/auth/index"
);
const { BackendError } = await import("../../src/errors");

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pop3-auth-timing-"));
  spies.scrypt.calls.length = 0;
  spies.scrypt.fail = false;
  spies.compare.calls.length = 0;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("staticUsers", () => {
  it("compares once, with equal-length digests, for known and unknown users", async () => {
    const auth = staticUsers({ alice: "wonderland" });
    for (const [user, password] of [
      ["alice", "wonderland"],
      ["alice", "x"],
      ["nobody", "x"],
      ["nobody", "a much longer password than the stored one"],
    ] as const) {
      spies.compare.calls.length = 0;
      await auth.verifyPassword(user, new Secret(password), context);
      expect(spies.compare.calls).toEqual([[32, 32]]);
    }
  });
});

describe("userFile", () => {
  it("runs exactly one scrypt with the file's parameters for an unknown user", async () => {
    const path = join(dir, "users");
    const lines = await Promise.all([
      hashPassword("pw-a", { N: 32, r: 2, keyLength: 24 }).then((h) => `a:${h}`),
      hashPassword("pw-b", { N: 32, r: 2, keyLength: 24 }).then((h) => `b:${h}`),
      hashPassword("pw-c", { N: 16 }).then((h) => `c:${h}`),
    ]);
    await writeFile(path, `${lines.join("\n")}\n`);
    const auth = userFile(path);

    spies.scrypt.calls.length = 0;
    await expect(auth.verifyPassword("a", new Secret("wrong"), context)).resolves.toEqual({
      ok: false,
    });
    const known = spies.scrypt.calls.slice();
    spies.scrypt.calls.length = 0;
    await expect(auth.verifyPassword("zed", new Secret("pw-a"), context)).resolves.toEqual({
      ok: false,
    });
    const unknown = spies.scrypt.calls.slice();

    expect(known).toHaveLength(1);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]?.keyLength).toBe(24);
    expect(unknown).toEqual(known);
  });

  it("uses the default cost for unknown users of an empty file", async () => {
    const path = join(dir, "users");
    await writeFile(path, "# nobody yet\n");
    await expect(userFile(path).verifyPassword("alice", new Secret("x"), context)).resolves.toEqual(
      { ok: false },
    );
    expect(spies.scrypt.calls).toHaveLength(1);
    expect(spies.scrypt.calls[0]?.options).toMatchObject({ N: 16384, r: 8, p: 1 });
    expect(spies.scrypt.calls[0]?.keyLength).toBe(32);
  });
});

describe("scrypt failures", () => {
  it("become a BackendError that does not carry the password in its message", async () => {
    const hash = await hashPassword("secret-pass", { N: 16 });
    spies.scrypt.fail = true;
    const error = await rejection(() => verifyPasswordHash("secret-pass", hash));
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toBe("scrypt failed");
    expect((error as Error).cause).toBeInstanceOf(Error);
    expectNoLeak(error, ["secret-pass", hash]);
  });
});
