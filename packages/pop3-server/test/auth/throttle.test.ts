import { describe, expect, it } from "vitest";
import { LoginDelayTracker, LoginThrottle, normalizeAddress } from "../../src/auth/index";
import { ConfigError } from "../../src/errors";

function clock(start = 1_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

describe("LoginThrottle", () => {
  it("waits nothing without failures", () => {
    const throttle = new LoginThrottle();
    expect(throttle.delayFor({ address: "192.0.2.1", user: "alice" })).toBe(0);
    expect(throttle.delayFor({ address: "192.0.2.1" })).toBe(0);
  });

  it("doubles per failure from one address, whatever user it tries, up to the cap", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      throttle.recordFailure({ address: "192.0.2.1", user: `user${i}` });
      delays.push(throttle.delayFor({ address: "192.0.2.1", user: "someone-new" }));
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(throttle.delayFor({ address: "192.0.2.2", user: "someone-new" })).toBe(0);
  });

  it("never delays an address without failures, whatever the user's failures", () => {
    const throttle = new LoginThrottle({ baseDelayMs: 100, maxDelayMs: 1000, now: clock().now });
    for (let i = 0; i < 6; i++)
      throttle.recordFailure({ address: `198.51.100.${i}`, user: "alice" });
    expect(throttle.delayFor({ address: "203.0.113.9", user: "alice" })).toBe(0);
    const attempt = throttle.begin({ address: "203.0.113.9", user: "alice" });
    expect(attempt).toMatchObject({ allowed: true, clean: true, delayMs: 0 });
    // An address that failed is delayed by its own count, not by the user's.
    expect(throttle.delayFor({ address: "198.51.100.0", user: "alice" })).toBe(100);
  });

  it("counts user names without regard to case", () => {
    const throttle = new LoginThrottle({ maxFailuresPerUser: 2, now: clock().now });
    throttle.recordFailure({ address: "198.51.100.1", user: "Alice" });
    throttle.recordFailure({ address: "198.51.100.2", user: "ALICE" });
    expect(throttle.begin({ address: "198.51.100.1", user: "alice" })).toEqual({
      allowed: false,
      reason: "user",
    });
  });

  it("forgets failures resetAfterMs after the last one", () => {
    const time = clock();
    const throttle = new LoginThrottle({ resetAfterMs: 60_000, now: time.now });
    const attempt = { address: "192.0.2.1", user: "alice" };
    throttle.recordFailure(attempt);
    time.advance(50_000);
    throttle.recordFailure(attempt);
    time.advance(59_999);
    expect(throttle.delayFor(attempt)).toBe(2000);
    time.advance(1);
    expect(throttle.delayFor(attempt)).toBe(0);
    throttle.recordFailure(attempt);
    expect(throttle.delayFor(attempt)).toBe(1000);
  });

  it("clears the user and that user's failures from the address on success", () => {
    const throttle = new LoginThrottle({ now: clock().now });
    const alice = { address: "192.0.2.1", user: "alice" };
    for (let i = 0; i < 3; i++) throttle.recordFailure(alice);
    expect(throttle.delayFor(alice)).toBe(4000);
    throttle.recordSuccess(alice);
    expect(throttle.delayFor(alice)).toBe(0);
    expect(throttle.delayFor({ address: "192.0.2.1", user: "carol" })).toBe(0);
    expect(throttle.size).toBe(0);
  });

  it("does not let a success wipe guesses against other users from the same address", () => {
    const throttle = new LoginThrottle({ now: clock().now });
    const address = "192.0.2.1";
    for (let i = 0; i < 2; i++) throttle.recordFailure({ address, user: "bob" });
    for (let i = 0; i < 3; i++) throttle.recordFailure({ address, user: "mallory" });
    throttle.recordFailure({ address: "198.51.100.1", user: "mallory" });
    expect(throttle.delayFor({ address, user: "carol" })).toBe(15000);
    throttle.recordSuccess({ address, user: "mallory" });
    expect(throttle.delayFor({ address, user: "carol" })).toBe(2000);
    expect(throttle.delayFor({ address, user: "bob" })).toBe(2000);
    expect(throttle.delayFor({ address: "198.51.100.1", user: "mallory" })).toBe(1000);
  });

  it("a success without a user name changes nothing", () => {
    const throttle = new LoginThrottle({ now: clock().now });
    throttle.recordFailure({ address: "192.0.2.1" });
    throttle.recordSuccess({ address: "192.0.2.1" });
    throttle.recordSuccess({ address: "192.0.2.1", user: "" });
    expect(throttle.delayFor({ address: "192.0.2.1", user: "" })).toBe(1000);
  });

  it("stays within maxEntries per kind, dropping the least recently failed", () => {
    const throttle = new LoginThrottle({ maxEntries: 3, now: clock().now });
    for (let i = 1; i <= 5; i++) throttle.recordFailure({ address: `192.0.2.${i}` });
    expect(throttle.size).toBe(3);
    expect(throttle.delayFor({ address: "192.0.2.1" })).toBe(0);
    expect(throttle.delayFor({ address: "192.0.2.2" })).toBe(0);
    expect(throttle.delayFor({ address: "192.0.2.3" })).toBe(1000);
    // A new failure makes an entry the most recent again.
    throttle.recordFailure({ address: "192.0.2.3" });
    throttle.recordFailure({ address: "192.0.2.6" });
    expect(throttle.delayFor({ address: "192.0.2.3" })).toBe(2000);
    expect(throttle.delayFor({ address: "192.0.2.4" })).toBe(0);

    const both = new LoginThrottle({ maxEntries: 10, now: clock().now });
    for (let i = 0; i < 1000; i++)
      both.recordFailure({ address: `10.0.${i >> 8}.${i & 255}`, user: `u${i}` });
    expect(both.size).toBe(30);
  });

  it("prune() drops expired entries", () => {
    const time = clock();
    const throttle = new LoginThrottle({ resetAfterMs: 1000, now: time.now });
    throttle.recordFailure({ address: "192.0.2.1", user: "alice" });
    time.advance(500);
    throttle.recordFailure({ address: "192.0.2.2" });
    time.advance(600);
    throttle.prune();
    expect(throttle.size).toBe(1);
    expect(throttle.delayFor({ address: "192.0.2.2" })).toBe(1000);
  });

  it("counts an IPv6 /64 as one client and IPv4-mapped addresses as IPv4", () => {
    const throttle = new LoginThrottle({ now: clock().now });
    throttle.recordFailure({ address: "2001:db8:1:2::1" });
    throttle.recordFailure({ address: "2001:db8:1:2:ffff:ffff:ffff:ffff" });
    throttle.recordFailure({ address: "2001:DB8:1:2:abcd::%eth0" });
    expect(throttle.delayFor({ address: "2001:db8:1:2::99" })).toBe(4000);
    expect(throttle.delayFor({ address: "2001:db8:1:3::1" })).toBe(0);
    throttle.recordFailure({ address: "::ffff:192.0.2.7" });
    expect(throttle.delayFor({ address: "192.0.2.7" })).toBe(1000);

    const exact = new LoginThrottle({ ipv6PrefixLength: 128, now: clock().now });
    exact.recordFailure({ address: "2001:db8::1" });
    expect(exact.delayFor({ address: "2001:db8::2" })).toBe(0);
    expect(exact.delayFor({ address: "2001:db8:0::1" })).toBe(1000);
  });

  it("waits nothing with baseDelayMs 0, even after many failures", () => {
    const throttle = new LoginThrottle({ baseDelayMs: 0, now: clock().now });
    for (let i = 0; i < 2000; i++) throttle.recordFailure({ address: "192.0.2.1" });
    expect(throttle.delayFor({ address: "192.0.2.1" })).toBe(0);
    const capped = new LoginThrottle({ now: clock().now });
    for (let i = 0; i < 2000; i++) capped.recordFailure({ address: "192.0.2.1" });
    expect(capped.delayFor({ address: "192.0.2.1" })).toBe(15000);
  });

  it.each([
    [{ baseDelayMs: -1 }],
    [{ maxDelayMs: Number.NaN }],
    [{ resetAfterMs: 0 }],
    [{ maxEntries: 0 }],
    [{ maxEntries: 1.5 }],
    [{ ipv6PrefixLength: 129 }],
  ])("rejects bad options %o", (options) => {
    expect(() => new LoginThrottle(options)).toThrow(ConfigError);
  });
});

describe("LoginThrottle caps", () => {
  /** One attempt, checked and failed if admitted; returns what `begin` said. */
  function fail(throttle: LoginThrottle, address: string, user = "victim") {
    const attempt = throttle.begin({ address, user });
    if (attempt.allowed) attempt.finish("failure");
    return attempt;
  }

  it("refuses an address after maxFailuresPerAddress failures until the window ends", () => {
    const time = clock();
    const throttle = new LoginThrottle({ resetAfterMs: 60_000, now: time.now });
    for (let i = 0; i < 10; i++) expect(fail(throttle, "192.0.2.1", `u${i}`).allowed).toBe(true);
    expect(throttle.begin({ address: "192.0.2.1", user: "new" })).toEqual({
      allowed: false,
      reason: "address",
    });
    // The right password is refused too: the cap is decided before any check.
    expect(throttle.begin({ address: "192.0.2.1" }).allowed).toBe(false);
    expect(throttle.begin({ address: "192.0.2.2", user: "new" }).allowed).toBe(true);
    // Refused attempts are not failures: the window still ends 60 s after the 10th failure.
    time.advance(59_999);
    expect(throttle.begin({ address: "192.0.2.1", user: "new" }).allowed).toBe(false);
    time.advance(1);
    expect(throttle.begin({ address: "192.0.2.1", user: "new" })).toMatchObject({
      allowed: true,
      clean: true,
    });
  });

  it("counts attempts in progress, so parallel connections cannot overshoot the cap", () => {
    const throttle = new LoginThrottle({ maxFailuresPerAddress: 3, now: clock().now });
    const open = [1, 2, 3].map(() => throttle.begin({ address: "192.0.2.1", user: "victim" }));
    expect(open.map((a) => a.allowed)).toEqual([true, true, true]);
    expect(open.map((a) => a.allowed && a.clean)).toEqual([true, false, false]);
    expect(throttle.begin({ address: "192.0.2.1", user: "victim" }).allowed).toBe(false);
    // An attempt without a verdict (backend error, client gone) frees its place.
    const first = open[0];
    if (first?.allowed) {
      first.finish("none");
      first.finish("failure"); // ignored: one outcome per attempt
    }
    expect(throttle.size).toBe(2);
    expect(throttle.begin({ address: "192.0.2.1", user: "victim" }).allowed).toBe(true);
  });

  it("caps a user from addresses that failed, never from a clean address", () => {
    const throttle = new LoginThrottle({ maxFailuresPerUser: 5, now: clock().now });
    for (let i = 1; i <= 5; i++) expect(fail(throttle, `198.51.100.${i}`).allowed).toBe(true);
    // Every attacker address has failed once now: the user is capped for them.
    expect(throttle.begin({ address: "198.51.100.1", user: "VICTIM" })).toEqual({
      allowed: false,
      reason: "user",
    });
    // Another user from the same address is not.
    expect(throttle.begin({ address: "198.51.100.1", user: "bob" }).allowed).toBe(true);
    // The real user, from an address with no failures: no cap, no delay.
    const real = throttle.begin({ address: "203.0.113.7", user: "victim" });
    expect(real).toMatchObject({ allowed: true, clean: true, delayMs: 0 });
    // A second attempt from that address while the first is in progress is not clean.
    expect(throttle.begin({ address: "203.0.113.7", user: "victim" })).toEqual({
      allowed: false,
      reason: "user",
    });
    if (real.allowed) real.finish("success");
    // The real user's success does not wipe the attackers' failures.
    expect(throttle.begin({ address: "198.51.100.2", user: "victim" }).allowed).toBe(false);
  });

  it("forgives a user's own typos on success, from the address and the user", () => {
    const throttle = new LoginThrottle({ maxFailuresPerUser: 4, now: clock().now });
    fail(throttle, "198.51.100.1");
    fail(throttle, "203.0.113.7");
    fail(throttle, "203.0.113.7");
    const right = throttle.begin({ address: "203.0.113.7", user: "victim" });
    expect(right).toMatchObject({ allowed: true, clean: false, delayMs: 2000 });
    if (right.allowed) right.finish("success");
    expect(throttle.delayFor({ address: "203.0.113.7" })).toBe(0);
    // The attacker's failure is left on the user (1 of 4): three more pass; had the typos
    // stayed (3 of 4), only one would.
    expect(fail(throttle, "198.51.100.1").allowed).toBe(true);
    expect(fail(throttle, "198.51.100.1").allowed).toBe(true);
    expect(fail(throttle, "198.51.100.1").allowed).toBe(true);
    expect(fail(throttle, "198.51.100.1").allowed).toBe(false);
  });

  it("holds one address to maxFailuresPerAddress per window, however hard it tries", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now });
    let failures = 0;
    // 50 connections, each trying once a second, for an hour (failures take no time here).
    for (let second = 0; second < 3600; second++) {
      for (let c = 0; c < 50; c++) if (fail(throttle, "192.0.2.1", `u${c}`).allowed) failures++;
      time.advance(1000);
    }
    expect(failures).toBe(40); // 10 per 15 minutes
  });

  it("holds one user to maxFailuresPerUser plus one guess per fresh address per window", () => {
    const time = clock();
    const throttle = new LoginThrottle({ now: time.now });
    let failures = 0;
    for (let second = 0; second < 3600; second++) {
      for (let a = 0; a < 100; a++) if (fail(throttle, `10.0.0.${a}`).allowed) failures++;
      time.advance(1000);
    }
    // Each window: the first round is 100 clean addresses; then the user is capped.
    expect(failures).toBeLessThanOrEqual(4 * (20 + 100));
    expect(failures).toBe(400);
  });

  it.each([[{ maxFailuresPerAddress: 0 }], [{ maxFailuresPerUser: 1.5 }]])(
    "rejects bad options %o",
    (options) => {
      expect(() => new LoginThrottle(options)).toThrow(ConfigError);
    },
  );
});

describe("normalizeAddress", () => {
  it.each([
    ["192.0.2.1", 64, "192.0.2.1"],
    ["::ffff:192.0.2.1", 64, "192.0.2.1"],
    ["::ffff:c000:201", 64, "192.0.2.1"],
    ["2001:db8::1", 64, "2001:db8:0:0:0:0:0:0/64"],
    ["2001:db8:aaaa:bbbb:cccc::1", 48, "2001:db8:aaaa:0:0:0:0:0/48"],
    ["2001:db8:aaaa:bbbb:cccc::1", 56, "2001:db8:aaaa:bb00:0:0:0:0/56"],
    ["2001:db8::1", 128, "2001:db8:0:0:0:0:0:1/128"],
    ["::1", 128, "0:0:0:0:0:0:0:1/128"],
    ["64:ff9b::192.0.2.1", 128, "64:ff9b:0:0:0:0:c000:201/128"],
    ["fe80::1%eth0", 64, "fe80:0:0:0:0:0:0:0/64"],
    ["/run/pop3.sock", 64, "/run/pop3.sock"],
    ["", 64, ""],
  ])("%s /%i -> %s", (address, prefix, expected) => {
    expect(normalizeAddress(address, prefix)).toBe(expected);
  });
});

describe("LoginDelayTracker", () => {
  it("allows a first login and refuses another within the delay", () => {
    const time = clock();
    const tracker = new LoginDelayTracker({ now: time.now });
    expect(tracker.check("alice", 60)).toEqual({ allowed: true });
    tracker.recordLogin("alice");
    time.advance(10_000);
    expect(tracker.check("alice", 60)).toEqual({ allowed: false, retryAfterSeconds: 50 });
    time.advance(49_500);
    expect(tracker.check("alice", 60)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    time.advance(500);
    expect(tracker.check("alice", 60)).toEqual({ allowed: true });
    expect(tracker.check("bob", 60)).toEqual({ allowed: true });
  });

  it("counts from the last recorded login, and checking does not record", () => {
    const tracker = new LoginDelayTracker();
    tracker.recordLogin("alice", 0);
    expect(tracker.check("alice", 10, 5_000)).toEqual({ allowed: false, retryAfterSeconds: 5 });
    expect(tracker.check("alice", 10, 10_000)).toEqual({ allowed: true });
    expect(tracker.check("alice", 10, 10_000)).toEqual({ allowed: true });
    tracker.recordLogin("alice", 10_000);
    expect(tracker.check("alice", 10, 12_000)).toEqual({ allowed: false, retryAfterSeconds: 8 });
  });

  it("allows everything with a delay of 0, and treats a clock going back as no time passed", () => {
    const tracker = new LoginDelayTracker();
    tracker.recordLogin("alice", 100_000);
    expect(tracker.check("alice", 0, 100_000)).toEqual({ allowed: true });
    expect(tracker.check("alice", 30, 40_000)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(() => tracker.check("alice", -1)).toThrow(ConfigError);
    expect(() => tracker.check("alice", Number.POSITIVE_INFINITY)).toThrow(ConfigError);
  });

  it("stays within maxEntries, forgetting the least recent login", () => {
    const tracker = new LoginDelayTracker({ maxEntries: 2, now: clock().now });
    tracker.recordLogin("a");
    tracker.recordLogin("b");
    tracker.recordLogin("a");
    tracker.recordLogin("c");
    expect(tracker.size).toBe(2);
    expect(tracker.check("b", 60)).toEqual({ allowed: true });
    expect(tracker.check("a", 60).allowed).toBe(false);
    expect(tracker.check("c", 60).allowed).toBe(false);
    expect(() => new LoginDelayTracker({ maxEntries: 0 })).toThrow(ConfigError);
  });
});
