import { isIPv4, isIPv6 } from "node:net";
import { ConfigError } from "../errors";

/** One login attempt: where it came from and the user name the client gave, if any. */
export interface LoginAttempt {
  readonly address: string;
  /** The claimed user name; absent or `""` when the client never named one. */
  readonly user?: string | undefined;
}

export interface LoginThrottleOptions {
  /** Delay after the first failure; it doubles with each further one. Default 1000. */
  readonly baseDelayMs?: number;
  /** Upper bound of the delay. Default 15000. */
  readonly maxDelayMs?: number;
  /** Failures are forgotten this long after the last failure of the same key. Default 15 min. */
  readonly resetAfterMs?: number;
  /**
   * Most keys remembered per kind (addresses, users, address+user pairs); the least recently
   * failed one is dropped first. Default 100000.
   */
  readonly maxEntries?: number;
  /**
   * IPv6 clients are counted per prefix of this many bits (one subscriber usually holds a whole
   * /64). 128 counts each address alone. IPv4-mapped IPv6 addresses count as their IPv4 address.
   * Default 64.
   */
  readonly ipv6PrefixLength?: number;
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
}

interface Failures {
  count: number;
  last: number;
}

/** A map of failure counts with expiry and a size bound; insertion order = recency. */
class FailureTable {
  readonly #entries = new Map<string, Failures>();
  readonly #maxEntries: number;
  readonly #resetAfterMs: number;

  constructor(maxEntries: number, resetAfterMs: number) {
    this.#maxEntries = maxEntries;
    this.#resetAfterMs = resetAfterMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  count(key: string, now: number): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    if (now - entry.last >= this.#resetAfterMs) {
      this.#entries.delete(key);
      return 0;
    }
    return entry.count;
  }

  add(key: string, now: number): void {
    const count = this.count(key, now);
    this.#entries.delete(key);
    this.#entries.set(key, { count: count + 1, last: now });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  /** Takes `amount` failures away without making the entry more recent. */
  subtract(key: string, amount: number): void {
    const entry = this.#entries.get(key);
    if (entry === undefined || amount <= 0) return;
    entry.count -= amount;
    if (entry.count <= 0) this.#entries.delete(key);
  }

  take(key: string, now: number): number {
    const count = this.count(key, now);
    this.#entries.delete(key);
    return count;
  }

  prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.last >= this.#resetAfterMs) this.#entries.delete(key);
    }
  }
}

function checkNumber(
  problems: string[],
  name: string,
  value: number,
  min: number,
  integer = false,
) {
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    problems.push(`${name} must be ${integer ? "an integer" : "a finite number"} >= ${min}`);
  }
}

/**
 * Slows down password guessing. Before answering a login attempt, wait `delayFor(attempt)`
 * milliseconds (answer `-ERR` only after the wait, whatever the outcome); then report the outcome
 * with `recordFailure` or `recordSuccess`.
 *
 * The delay grows with the recent failures of the client's address and, separately, of the user
 * name it tried, and is the larger of the two: `baseDelayMs * 2^(failures - 1)`, capped at
 * `maxDelayMs`, 0 without failures. Counting per user stops a botnet spreading guesses for one
 * account over many addresses; counting per address stops one client trying many accounts. User
 * names are counted case-insensitively, so `Alice` and `alice` share a count.
 *
 * A success clears the user's failures and, from the address's count, the failures it made
 * against that user only: logging in to one's own account does not wipe the record of guesses
 * against other accounts from the same address.
 *
 * Everything is in memory, bounded by `maxEntries` per kind; nothing uses timers.
 */
export class LoginThrottle {
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #ipv6PrefixLength: number;
  readonly #now: () => number;
  readonly #addresses: FailureTable;
  readonly #users: FailureTable;
  readonly #pairs: FailureTable;

  constructor(options: LoginThrottleOptions = {}) {
    const baseDelayMs = options.baseDelayMs ?? 1000;
    const maxDelayMs = options.maxDelayMs ?? 15_000;
    const resetAfterMs = options.resetAfterMs ?? 15 * 60_000;
    const maxEntries = options.maxEntries ?? 100_000;
    const ipv6PrefixLength = options.ipv6PrefixLength ?? 64;
    const problems: string[] = [];
    checkNumber(problems, "baseDelayMs", baseDelayMs, 0);
    checkNumber(problems, "maxDelayMs", maxDelayMs, 0);
    checkNumber(problems, "resetAfterMs", resetAfterMs, 1);
    checkNumber(problems, "maxEntries", maxEntries, 1, true);
    checkNumber(problems, "ipv6PrefixLength", ipv6PrefixLength, 0, true);
    if (ipv6PrefixLength > 128) problems.push("ipv6PrefixLength must be <= 128");
    if (problems.length > 0) throw new ConfigError(`LoginThrottle: ${problems.join("; ")}`);
    this.#baseDelayMs = baseDelayMs;
    this.#maxDelayMs = maxDelayMs;
    this.#ipv6PrefixLength = ipv6PrefixLength;
    this.#now = options.now ?? Date.now;
    this.#addresses = new FailureTable(maxEntries, resetAfterMs);
    this.#users = new FailureTable(maxEntries, resetAfterMs);
    this.#pairs = new FailureTable(maxEntries, resetAfterMs);
  }

  /** Milliseconds to wait before answering this attempt. */
  delayFor(attempt: LoginAttempt): number {
    const now = this.#now();
    const { address, user } = this.#keys(attempt);
    const failures = Math.max(
      this.#addresses.count(address, now),
      user === undefined ? 0 : this.#users.count(user, now),
    );
    if (failures === 0 || this.#baseDelayMs === 0) return 0;
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures - 1, 1023));
  }

  recordFailure(attempt: LoginAttempt): void {
    const now = this.#now();
    const { address, user } = this.#keys(attempt);
    this.#addresses.add(address, now);
    if (user !== undefined) {
      this.#users.add(user, now);
      this.#pairs.add(pairKey(address, user), now);
    }
  }

  recordSuccess(attempt: LoginAttempt): void {
    const now = this.#now();
    const { address, user } = this.#keys(attempt);
    if (user === undefined) return;
    this.#users.take(user, now);
    this.#addresses.subtract(address, this.#pairs.take(pairKey(address, user), now));
  }

  /** Drops expired entries now (they are otherwise dropped lazily when looked at or evicted). */
  prune(): void {
    const now = this.#now();
    this.#addresses.prune(now);
    this.#users.prune(now);
    this.#pairs.prune(now);
  }

  /** Entries held, all kinds together (for metrics and tests). */
  get size(): number {
    return this.#addresses.size + this.#users.size + this.#pairs.size;
  }

  #keys(attempt: LoginAttempt): { address: string; user: string | undefined } {
    const user = attempt.user === undefined || attempt.user === "" ? undefined : attempt.user;
    return {
      address: normalizeAddress(attempt.address, this.#ipv6PrefixLength),
      user: user?.toLowerCase(),
    };
  }
}

function pairKey(address: string, user: string): string {
  return JSON.stringify([address, user]);
}

/**
 * The key an address is counted under: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 as its
 * `/prefixLength` network in full hex (`2001:db8:0:0:0:0:0:0/64`), anything else as is.
 */
export function normalizeAddress(address: string, prefixLength = 64): string {
  if (isIPv4(address)) return address;
  const zone = address.indexOf("%");
  const bare = zone < 0 ? address : address.slice(0, zone);
  if (!isIPv6(bare)) return address;
  const groups = expandIPv6(bare);
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  const masked = groups.map((group, i) => {
    const bits = Math.max(0, Math.min(16, prefixLength - i * 16));
    return bits === 16 ? group : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${masked.map((g) => g.toString(16)).join(":")}/${prefixLength}`;
}

/** The eight 16-bit groups of a valid IPv6 address (no zone). */
function expandIPv6(address: string): number[] | undefined {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const octets = tail.split(".").map(Number);
    if (octets.length !== 4) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  const parse = (part: string | undefined): number[] =>
    part === undefined || part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16));
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - rest.length;
  if (missing < 0) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...rest];
}

export interface LoginDelayTrackerOptions {
  /** Most users remembered; the least recent login is dropped first. Default 100000. */
  readonly maxEntries?: number;
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
}

export type LoginDelayCheck =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

/**
 * Enforces RFC 2449 LOGIN-DELAY: a user may log in again only `minSeconds` after their last
 * successful login. After the credentials check out, `check` the user; if it is not allowed,
 * answer `-ERR [LOGIN-DELAY]` (and do not record it), else `recordLogin` and go on.
 *
 * Memory is bounded by `maxEntries`: under more distinct logins than that within the delay, the
 * oldest are forgotten and may log in early.
 */
export class LoginDelayTracker {
  readonly #logins = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: LoginDelayTrackerOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000;
    const problems: string[] = [];
    checkNumber(problems, "maxEntries", maxEntries, 1, true);
    if (problems.length > 0) throw new ConfigError(`LoginDelayTracker: ${problems.join("; ")}`);
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** Whether `user` may log in now, given the advertised delay of `minSeconds`. */
  check(user: string, minSeconds: number, now: number = this.#now()): LoginDelayCheck {
    if (!Number.isFinite(minSeconds) || minSeconds < 0) {
      throw new ConfigError("LoginDelayTracker: minSeconds must be a finite number >= 0");
    }
    const last = this.#logins.get(user);
    if (last === undefined || minSeconds === 0) return { allowed: true };
    // A clock that went backwards counts as no time elapsed.
    const remainingMs = minSeconds * 1000 - Math.max(0, now - last);
    if (remainingMs <= 0) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) };
  }

  /** Notes a successful login of `user`. */
  recordLogin(user: string, now: number = this.#now()): void {
    this.#logins.delete(user);
    this.#logins.set(user, now);
    while (this.#logins.size > this.#maxEntries) {
      const oldest = this.#logins.keys().next();
      if (oldest.done === true) break;
      this.#logins.delete(oldest.value);
    }
  }

  /** Users remembered (for metrics and tests). */
  get size(): number {
    return this.#logins.size;
  }
}
