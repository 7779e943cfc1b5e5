/**
 * Who may hold a connection. Every TCP connection takes a slot the moment it is accepted — before
 * a TLS handshake or a PROXY header, which cost a file descriptor and memory too — and gives it
 * back when its socket closes. A connection is "pre-login" until it logs in; pre-login slots are
 * the ones a slow or silent client can hold without knowing a password, so they get two more
 * rules, as Dovecot's login processes do:
 *
 * - one address may hold only `maxPreLoginConnectionsPerAddress` of them, and
 * - when the server is full, a new connection takes the place of the oldest pre-login one
 *   instead of being refused, so stalled clients age out under pressure and a real client
 *   still gets its greeting.
 */

export interface AdmissionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxPreLoginConnectionsPerAddress: number;
}

/** Why a connection was not admitted. */
export type Refusal = "server-full" | "address-limit" | "address-pre-login-limit";

/**
 * The address a PROXY listener's connection is counted under until its header names the client:
 * the proxy's own address must not use up a per-address share meant for one client.
 */
const UNIDENTIFIED = Symbol("unidentified");

export class Admission {
  readonly #limits: AdmissionLimits;
  #total = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #preLoginPerAddress = new Map<string, number>();
  /** Pre-login slots, oldest first (a Set keeps insertion order). */
  readonly #preLogin = new Set<Slot>();

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Connections holding a slot now, and how many of them have not logged in. */
  get counts(): { readonly total: number; readonly preLogin: number } {
    return { total: this.#total, preLogin: this.#preLogin.size };
  }

  /**
   * Takes a slot for a connection from `address`, or says why not. `undefined` is a connection
   * whose client address is not known yet (a PROXY listener); `Slot.identify` names it later.
   */
  admit(address: string | undefined): Slot | Refusal {
    if (address !== undefined) {
      const refusal = this.#addressRefusal(address);
      if (refusal !== undefined) return refusal;
    }
    if (this.#total >= this.#limits.maxConnections) {
      const oldest = this.#preLogin.values().next();
      if (oldest.done) return "server-full";
      oldest.value.evict();
    }
    const slot = new Slot(this, address ?? UNIDENTIFIED);
    this.#total += 1;
    this.#preLogin.add(slot);
    if (address !== undefined) this.#count(address, 1);
    return slot;
  }

  #addressRefusal(address: string): Refusal | undefined {
    if ((this.#perAddress.get(address) ?? 0) >= this.#limits.maxConnectionsPerAddress) {
      return "address-limit";
    }
    if (
      (this.#preLoginPerAddress.get(address) ?? 0) >= this.#limits.maxPreLoginConnectionsPerAddress
    ) {
      return "address-pre-login-limit";
    }
    return undefined;
  }

  #count(address: string, delta: 1 | -1, preLogin = true): void {
    bump(this.#perAddress, address, delta);
    if (preLogin) bump(this.#preLoginPerAddress, address, delta);
  }

  /** @internal Slot's side of the bookkeeping. */
  identify(slot: Slot, address: string): Refusal | undefined {
    const refusal = this.#addressRefusal(address);
    if (refusal === undefined) this.#count(address, 1, this.#preLogin.has(slot));
    return refusal;
  }

  /** @internal */
  loggedIn(slot: Slot, address: string | typeof UNIDENTIFIED): void {
    if (!this.#preLogin.delete(slot)) return;
    if (address !== UNIDENTIFIED) bump(this.#preLoginPerAddress, address, -1);
  }

  /** @internal */
  release(slot: Slot, address: string | typeof UNIDENTIFIED): void {
    const preLogin = this.#preLogin.delete(slot);
    this.#total -= 1;
    if (address !== UNIDENTIFIED) this.#count(address, -1, preLogin);
  }
}

/** One admitted connection's place. Released exactly once, however often `release` is called. */
export class Slot {
  readonly #admission: Admission;
  #address: string | typeof UNIDENTIFIED;
  #released = false;
  #onEvict: () => void = () => {};

  /** @internal */
  constructor(admission: Admission, address: string | typeof UNIDENTIFIED) {
    this.#admission = admission;
    this.#address = address;
  }

  /** How to end this connection when a newer one needs its place (set by its owner). */
  onEvict(end: () => void): void {
    this.#onEvict = end;
  }

  /** Names the client of a PROXY connection; a refusal means the connection must close. */
  identify(address: string): Refusal | undefined {
    if (this.#released || this.#address !== UNIDENTIFIED) return undefined;
    const refusal = this.#admission.identify(this, address);
    if (refusal === undefined) this.#address = address;
    return refusal;
  }

  /** The connection logged in: it no longer counts against the pre-login rules. */
  loggedIn(): void {
    if (!this.#released) this.#admission.loggedIn(this, this.#address);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#admission.release(this, this.#address);
  }

  /** @internal The slot is freed at once; the owner's `onEvict` ends the connection. */
  evict(): void {
    this.release();
    this.#onEvict();
  }
}

function bump(map: Map<string, number>, key: string, delta: 1 | -1): void {
  const next = (map.get(key) ?? 0) + delta;
  if (next > 0) map.set(key, next);
  else map.delete(key);
}
