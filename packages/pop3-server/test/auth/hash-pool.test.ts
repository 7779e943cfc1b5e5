import { scryptSync } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { PasswordHashBusyError, PasswordHashPool } from "../../src/auth/index";
import type { ScryptRequest } from "../../src/auth/password-hash";
import { ConfigError } from "../../src/errors";

/** A deriver whose hashes finish only when the test says so. */
function manual() {
  const started: { request: ScryptRequest; finish: () => void }[] = [];
  const derive = (request: ScryptRequest) =>
    new Promise<Uint8Array>((resolve) => {
      started.push({ request, finish: () => resolve(Uint8Array.of(request.N)) });
    });
  return { started, derive };
}

function request(tag: number): ScryptRequest {
  return { password: Uint8Array.of(1), salt: Uint8Array.of(2), keyLength: 16, N: tag, r: 1, p: 1 };
}

/** What each promise came to: the tag of its key, or the busy reason. */
function outcomes(promises: Promise<Uint8Array>[]) {
  return Promise.all(
    promises.map((p) =>
      p.then(
        (key) => key[0],
        (error: unknown) => (error instanceof PasswordHashBusyError ? error.reason : error),
      ),
    ),
  );
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

let pool: PasswordHashPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe("PasswordHashPool", () => {
  it("runs `concurrency` hashes at once, queues `maxQueue`, refuses the rest at once", async () => {
    const fake = manual();
    pool = new PasswordHashPool({ concurrency: 2, maxQueue: 2, derive: fake.derive });
    const runs = [1, 2, 3, 4, 5, 6].map((tag) => pool?.run(request(tag)) as Promise<Uint8Array>);
    const results = outcomes(runs);
    await flush();
    expect(fake.started.map((s) => s.request.N)).toEqual([1, 2]);
    expect(pool.running).toBe(2);
    expect(pool.queued).toBe(2);
    for (let i = 0; i < 4; i++) {
      fake.started[i]?.finish();
      await flush();
    }
    expect(await results).toEqual([1, 2, 3, 4, "full", "full"]);
    expect(fake.started).toHaveLength(4);
  });

  it("runs high-priority hashes first and lets them take a full queue's newest low place", async () => {
    const fake = manual();
    pool = new PasswordHashPool({ concurrency: 1, maxQueue: 2, derive: fake.derive });
    const runs = [
      pool.run(request(1), { priority: "low" }),
      pool.run(request(2), { priority: "low" }),
      pool.run(request(3), { priority: "low" }),
      pool.run(request(4), { priority: "high" }),
      pool.run(request(5), { priority: "high" }),
      pool.run(request(6), { priority: "high" }),
    ];
    const results = outcomes(runs);
    await flush();
    for (let i = 0; i < 3; i++) {
      fake.started[i]?.finish();
      await flush();
    }
    // 4 took 3's place, 5 took 2's; 6 found no low place left to take.
    expect(await results).toEqual([1, "full", "full", 4, 5, "full"]);
    expect(fake.started.map((s) => s.request.N)).toEqual([1, 4, 5]);
  });

  it("refuses a hash that waited longer than queueTimeoutMs, or whose client left", async () => {
    const fake = manual();
    pool = new PasswordHashPool({ concurrency: 1, queueTimeoutMs: 50, derive: fake.derive });
    const gone = new AbortController();
    const runs = [
      pool.run(request(1)),
      pool.run(request(2)),
      pool.run(request(3), { signal: gone.signal }),
    ];
    const results = outcomes(runs);
    gone.abort();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(pool.queued).toBe(0);
    fake.started[0]?.finish();
    expect(await results).toEqual([1, "timeout", "cancelled"]);
    expect(fake.started).toHaveLength(1);
    await expect(pool.run(request(4), { signal: gone.signal })).rejects.toMatchObject({
      reason: "cancelled",
    });
  });

  it("refuses queued and later hashes once closed", async () => {
    const fake = manual();
    pool = new PasswordHashPool({ concurrency: 1, derive: fake.derive });
    const results = outcomes([pool.run(request(1)), pool.run(request(2))]);
    await pool.close();
    fake.started[0]?.finish();
    expect(await results).toEqual([1, "closed"]);
    const late = await pool.run(request(3)).catch((error: unknown) => error);
    expect(late).toBeInstanceOf(PasswordHashBusyError);
    expect((late as PasswordHashBusyError).code).toBe("POP3_AUTH_BACKEND");
    expect((late as PasswordHashBusyError).responseCode).toBe("SYS/TEMP");
  });

  it("derives on worker threads the same key as crypto.scrypt, and zeroes nothing of ours", async () => {
    pool = new PasswordHashPool({ concurrency: 2 });
    const salt = Buffer.from("0123456789abcdef");
    const password = Buffer.from("correct horse battery staple");
    const keys = await Promise.all(
      [0, 1, 2].map(() => pool?.run({ password, salt, keyLength: 32, N: 1024, r: 8, p: 1 })),
    );
    const expected = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
    for (const key of keys) expect(Buffer.from(key as Uint8Array).equals(expected)).toBe(true);
    // The worker zeroes its own copy; the caller's buffer is the caller's to clear.
    expect(password.toString()).toBe("correct horse battery staple");
  });

  it("turns a scrypt error in the worker into a BackendError without the password", async () => {
    pool = new PasswordHashPool({ concurrency: 1 });
    // N must be a power of two: scryptSync throws inside the worker.
    const error = await pool
      .run({
        password: Buffer.from("hunter2-secret"),
        salt: Buffer.alloc(16),
        keyLength: 32,
        N: 3,
        r: 8,
        p: 1,
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "POP3_AUTH_BACKEND", message: "scrypt failed" });
    expect(String((error as Error).stack)).not.toContain("hunter2");
    // The thread survives a failed hash.
    const key = await pool.run({ ...request(16), N: 16, keyLength: 16, salt: Buffer.alloc(16) });
    expect(key).toHaveLength(16);
  });

  it.each([[{ concurrency: 0 }], [{ maxQueue: -1 }], [{ queueTimeoutMs: 0 }]])(
    "rejects bad options %o",
    (options) => {
      expect(() => new PasswordHashPool(options)).toThrow(ConfigError);
    },
  );
});
