import { isIPv4, isIPv6 } from "node:net";
import { ConfigError } from "../errors";

/** One login attempt: where it came from and the user name the client gave, if any. */
export interface LoginAttempt {
  readonly address: string;
  /** The claimed user name; absent or `""` when the client never named one. */
  readonly user?: string | undefined;
}

export interface LoginThrottleOptions {
  /** Delay after an address's first failure; it doubles with each further one. Default 1000. */
  readonly baseDelayMs?: number;
  /** Upper bound of the delay. Default 15000. */
  readonly maxDelayMs?: number;
  /**
   * Failed logins of one address (password checks that failed, plus checks in progress) after
   * which its further attempts are refused without a check, until the window ends. Default 10.
   */
  readonly maxFailuresPerAddress?: number;
  /**
   * Failed logins against one user name, from any address, after which attempts on it are
   * refused without a check — except from a clean address (see `LoginThrottle`). Default 20.
   */
  readonly maxFailuresPerUser?: number;
  /**
   * The window: a key's failures are all forgotten this long after its last failure. Refused
   * attempts are not failures and do not extend it. Default 15 min.
   */
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

/** An attempt `begin` let through; report its outcome exactly once with `finish`. */
export interface AdmittedLogin {
  readonly allowed: true;
  /** Wait this long before checking (0 from a clean address). */
  readonly delayMs: number;
  /**
   * The address had no recent failure and no other attempt in progress: the user's cap does not
   * apply, there is no delay, and its password hash goes ahead of the others.
   */
  readonly clean: boolean;
  /**
   * `"failure"`: wrong credentials; `"success"`: right ones; `"none"`: no verdict (backend error,
   * busy, client gone). Later calls are ignored.
   */
  finish(outcome: "success" | "failure" | "none"): void;
}

/** An attempt refused without a check: answer `-ERR [SYS/TEMP]` and hang up. */
export interface RefusedLogin {
  readonly allowed: false;
  /** Which cap refused it. */
  readonly reason: "address" | "user";
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

/** Attempts in progress per key; an entry exists only while its count is above zero. */
class InFlight {
  readonly #counts = new Map<string, number>();

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const left = this.get(key) - 1;
    if (left > 0) this.#counts.set(key, left);
    else this.#counts.delete(key);
  }

  get size(): number {
    return this.#counts.size;
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
 * Caps and slows password guessing. For each login attempt call `begin`: if it is refused,
 * answer `-ERR [SYS/TEMP]` without checking anything (the guess costs the guesser a connection,
 * not us a hash); else wait `delayMs`, check the credentials, and `finish` with the outcome.
 *
 * The rules, per window of `resetAfterMs` (15 min) after a key's last failure:
 *
 * - **Per address** (an IPv6 /64 counts as one): once its failures plus its attempts in progress
 *   reach `maxFailuresPerAddress` (10), its attempts are refused. In-progress attempts count so
 *   that 50 parallel connections cannot all pass the check before the first failure lands. So
 *   one address gets at most 10 wrong guesses per 15 minutes (0.011/s), however many
 *   connections it opens. Each failure also delays its next attempt: `baseDelayMs * 2^(n-1)`,
 *   capped at `maxDelayMs`, per connection.
 * - **Per user** (case-insensitive): once the user's failures from all addresses plus attempts in
 *   progress from unclean addresses reach `maxFailuresPerUser` (20), attempts on it are refused
 *   — except from a **clean** address: one with no failure in its window and no other attempt in
 *   progress. A botnet spreading guesses over many addresses is capped, yet cannot lock the real
 *   user out: the user's own login from a clean address is never capped or delayed (the approach
 *   of Dovecot's per-IP auth penalty, plus a per-user cap that clean addresses skip). The price:
 *   each fresh address gets one guess at a capped user, so one user sees at most
 *   `maxFailuresPerUser` + (number of fresh addresses) wrong guesses per window.
 *
 * A success forgives the failures that address made against that user (the user's own typos),
 * from both the address's and the user's count; it does not wipe an attacker's guesses against
 * the same user from elsewhere, nor the address's guesses against other users.
 *
 * Everything is in memory, bounded by `maxEntries` per kind (in-progress counts by the number of
 * attempts in progress); nothing uses timers.
 */
export class LoginThrottle {
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxFailuresPerAddress: number;
  readonly #maxFailuresPerUser: number;
  readonly #ipv6PrefixLength: number;
  readonly #now: () => number;
  readonly #addresses: FailureTable;
  readonly #users: FailureTable;
  readonly #pairs: FailureTable;
  readonly #addressesInFlight = new InFlight();
  /** Only attempts from unclean addresses: clean ones are not subject to the user's cap. */
  readonly #usersInFlight = new InFlight();

  constructor(options: LoginThrottleOptions = {}) {
    const baseDelayMs = options.baseDelayMs ?? 1000;
    const maxDelayMs = options.maxDelayMs ?? 15_000;
    const maxFailuresPerAddress = options.maxFailuresPerAddress ?? 10;
    const maxFailuresPerUser = options.maxFailuresPerUser ?? 20;
    const resetAfterMs = options.resetAfterMs ?? 15 * 60_000;
    const maxEntries = options.maxEntries ?? 100_000;
    const ipv6PrefixLength = options.ipv6PrefixLength ?? 64;
    const problems: string[] = [];
    checkNumber(problems, "baseDelayMs", baseDelayMs, 0);
    checkNumber(problems, "maxDelayMs", maxDelayMs, 0);
    checkNumber(problems, "maxFailuresPerAddress", maxFailuresPerAddress, 1, true);
    checkNumber(problems, "maxFailuresPerUser", maxFailuresPerUser, 1, true);
    checkNumber(problems, "resetAfterMs", resetAfterMs, 1);
    checkNumber(problems, "maxEntries", maxEntries, 1, true);
    checkNumber(problems, "ipv6PrefixLength", ipv6PrefixLength, 0, true);
    if (ipv6PrefixLength > 128) problems.push("ipv6PrefixLength must be <= 128");
    if (problems.length > 0) throw new ConfigError(`LoginThrottle: ${problems.join("; ")}`);
    this.#baseDelayMs = baseDelayMs;
    this.#maxDelayMs = maxDelayMs;
    this.#maxFailuresPerAddress = maxFailuresPerAddress;
    this.#maxFailuresPerUser = maxFailuresPerUser;
    this.#ipv6PrefixLength = ipv6PrefixLength;
    this.#now = options.now ?? Date.now;
    this.#addresses = new FailureTable(maxEntries, resetAfterMs);
    this.#users = new FailureTable(maxEntries, resetAfterMs);
    this.#pairs = new FailureTable(maxEntries, resetAfterMs);
  }

  /** Admits or refuses an attempt (see the class comment); an admitted one is in progress. */
  begin(attempt: LoginAttempt): AdmittedLogin | RefusedLogin {
    const now = this.#now();
    const { address, user } = this.#keys(attempt);
    const addressFailures = this.#addresses.count(address, now);
    const addressBusy = this.#addressesInFlight.get(address);
    if (addressFailures + addressBusy >= this.#maxFailuresPerAddress) {
      return { allowed: false, reason: "address" };
    }
    const clean = addressFailures === 0 && addressBusy === 0;
    const capped =
      !clean &&
      user !== undefined &&
      this.#users.count(user, now) + this.#usersInFlight.get(user) >= this.#maxFailuresPerUser;
    if (capped) return { allowed: false, reason: "user" };

    this.#addressesInFlight.add(address);
    const userKey = clean ? undefined : user;
    if (userKey !== undefined) this.#usersInFlight.add(userKey);
    let finished = false;
    return {
      allowed: true,
      clean,
      delayMs: clean ? 0 : this.#delay(addressFailures),
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        this.#addressesInFlight.remove(address);
        if (userKey !== undefined) this.#usersInFlight.remove(userKey);
        if (outcome === "failure") this.recordFailure(attempt);
        else if (outcome === "success") this.recordSuccess(attempt);
      },
    };
  }

  /**
   * The delay `begin` would give an attempt from this address, ignoring caps and attempts in
   * progress: 0 for an address without recent failures, whatever user it names.
   */
  delayFor(attempt: LoginAttempt): number {
    const { address } = this.#keys(attempt);
    return this.#delay(this.#addresses.count(address, this.#now()));
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
    const own = this.#pairs.take(pairKey(address, user), now);
    this.#addresses.subtract(address, own);
    this.#users.subtract(user, own);
  }

  /** Drops expired entries now (they are otherwise dropped lazily when looked at or evicted). */
  prune(): void {
    const now = this.#now();
    this.#addresses.prune(now);
    this.#users.prune(now);
    this.#pairs.prune(now);
  }

  /** Entries held, all kinds together, attempts in progress included (for metrics and tests). */
  get size(): number {
    return (
      this.#addresses.size +
      this.#users.size +
      this.#pairs.size +
      this.#addressesInFlight.size +
      this.#usersInFlight.size
    );
  }

  #delay(failures: number): number {
    if (failures === 0 || this.#baseDelayMs === 0) return 0;
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures - 1, 1023));
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
