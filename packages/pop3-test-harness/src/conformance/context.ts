import {
  apopDigest,
  type Capabilities,
  type CapabilityName,
  cramMd5Client,
  decodeBase64Strict,
  encodeBase64,
  type Greeting,
  loginClient,
  parseDropListing,
  parseScanListing,
  parseUidListing,
  plainClient,
  type SaslClientMechanism,
  Secret,
} from "pop3-core";
import { FIXTURES, type Fixture } from "./fixtures";
import { type ObservedLine, Probe, type ProbeTarget, type StatusLine } from "./probe";
import { quote, redactLine } from "./text";
import type { ConformanceOptions, ConformanceTls } from "./types";

/** Thrown by a check to fail with a reason. */
export class CheckFailure extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "CheckFailure";
  }
}

/** Thrown by a check to skip with a reason. */
export class CheckSkip extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "CheckSkip";
  }
}

export function fail(reason: string): never {
  throw new CheckFailure(reason);
}

export function skip(reason: string): never {
  throw new CheckSkip(reason);
}

/** A status line for a reason: `"-ERR no such message"`. */
export function said(status: StatusLine): string {
  return quote(status.text);
}

/** Fails unless the answer is `+OK`. */
export function expectOk(status: StatusLine, what: string): void {
  if (!status.reply.ok) fail(`${what}: expected +OK, got ${said(status)}`);
}

/** Fails unless the answer is `-ERR`. */
export function expectErr(status: StatusLine, what: string): void {
  if (status.reply.ok) fail(`${what}: expected -ERR, got ${said(status)}`);
}

export type LoginMethod = "USER" | "PLAIN" | "LOGIN" | "CRAM-MD5" | "APOP";

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** What the first connections learned about the server. */
export interface Discovery {
  readonly greeting: Greeting;
  readonly greetingText: string;
  /** CAPA answered +OK before login. */
  readonly capa: boolean;
  /** CAPA on a cleartext connection before STLS (undefined with implicit TLS or without CAPA). */
  readonly capsCleartext: Capabilities | undefined;
  /** CAPA before login, in the run's TLS mode (empty without CAPA). */
  readonly caps: Capabilities;
  /** CAPA after login (undefined when CAPA is refused there). */
  readonly capsAfterLogin: Capabilities | undefined;
  readonly capaLinesBefore: readonly string[];
  readonly capaLinesAfter: readonly string[];
  readonly login: LoginMethod;
}

/** The mailbox as the suite seeded it. */
export interface SeededState {
  /** LIST sizes right after seeding, by message number - 1. */
  readonly sizes: readonly number[];
}

/** Everything the checks share during one run. */
export class RunContext {
  readonly options: ConformanceOptions;
  readonly tls: ConformanceTls;
  readonly timeoutMs: number;
  readonly observed: ObservedLine[] = [];
  discovery!: Discovery;
  /** Set once the suite has seeded the mailbox. */
  seeded: SeededState | undefined;
  /** Why emptying the mailbox before the `empty` phase failed, when it did. */
  seedError: string | undefined;
  readonly fixtures: readonly Fixture[] = FIXTURES;

  constructor(options: ConformanceOptions) {
    this.options = options;
    this.tls = options.tls ?? "none";
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  get credentials(): Credentials {
    return { user: this.options.user, password: this.options.password };
  }

  get canSeed(): boolean {
    return this.options.seed !== undefined;
  }

  /** The probe settings; `implicit` follows the run's TLS mode unless overridden. */
  target(implicitTls = this.tls === "implicit"): ProbeTarget {
    return {
      host: this.options.host,
      port: this.options.port,
      implicitTls,
      tlsOptions: this.options.tlsOptions ?? {},
      timeoutMs: this.timeoutMs,
      observe: (line) => this.observed.push(line),
    };
  }

  /**
   * A new connection in the run's TLS mode: with `starttls` it has done STLS already, and is
   * then in AUTHORIZATION over TLS.
   */
  async connect(): Promise<Probe> {
    const probe = await Probe.open(this.target());
    if (this.tls === "starttls") {
      try {
        const answer = await probe.raw("STLS");
        if (!answer.status.reply.ok) fail(`STLS refused: ${said(answer.status)}`);
        await probe.startTls();
      } catch (error) {
        probe.destroy();
        throw error;
      }
    }
    return probe;
  }

  /**
   * Connects and logs in. A session the suite just ended may still hold the maildrop lock for a
   * moment, so a refusal with [IN-USE] (or without a code) is retried for up to 5 seconds.
   */
  async session(credentials: Credentials = this.credentials): Promise<Probe> {
    const deadline = Date.now() + Math.min(this.timeoutMs, 5000);
    for (;;) {
      const probe = await this.connect();
      try {
        const answer = await this.login(probe, credentials);
        if (answer.reply.ok) return probe;
        const code = answer.reply.code;
        const retry = code === undefined || code === "IN-USE" || code === "SYS/TEMP";
        if (!retry || Date.now() > deadline) {
          fail(`login as ${credentials.user} failed: ${said(answer)}`);
        }
      } catch (error) {
        probe.destroy();
        throw error;
      }
      await probe.quit();
      await sleep(50);
    }
  }

  /** Logs in with the discovered method and returns the final answer (+OK or -ERR). */
  async login(
    probe: Probe,
    credentials: Credentials = this.credentials,
    method: LoginMethod = this.discovery.login,
  ): Promise<StatusLine> {
    const password = new Secret(credentials.password);
    switch (method) {
      case "USER": {
        const user = await probe.request({ name: "USER", user: credentials.user });
        if (!user.status.reply.ok) return user.status;
        return (await probe.request({ name: "PASS", password })).status;
      }
      case "APOP": {
        const timestamp = probe.greeting.greeting.apopTimestamp;
        if (timestamp === undefined) fail("the greeting has no APOP timestamp");
        const digest = apopDigest(timestamp, password);
        return (await probe.request({ name: "APOP", user: credentials.user, digest })).status;
      }
      case "PLAIN":
        return this.sasl(probe, plainClient({ username: credentials.user, password }), true);
      case "LOGIN":
        return this.sasl(probe, loginClient({ username: credentials.user, password }), false);
      case "CRAM-MD5":
        return this.sasl(probe, cramMd5Client({ username: credentials.user, password }), false);
    }
  }

  /** Runs one SASL exchange (RFC 5034 §4) and returns the final status line. */
  async sasl(
    probe: Probe,
    mechanism: SaslClientMechanism,
    initialResponse: boolean,
  ): Promise<StatusLine> {
    const initial = initialResponse ? mechanism.initialResponse() : undefined;
    probe.send({
      name: "AUTH",
      mechanism: mechanism.name,
      ...(initial === undefined ? {} : { initialResponse: new Secret(encodeBase64(initial)) }),
    });
    for (let round = 0; round < 10; round++) {
      const line = await probe.authLine(`the answer to AUTH ${mechanism.name}`);
      if ("status" in line) return line.status;
      const answer = mechanism.respond(decodeBase64Strict(line.continuation));
      probe.write(`${encodeBase64(answer)}\r\n`);
    }
    fail(`AUTH ${mechanism.name}: the server kept sending challenges`);
  }

  has(name: Exclude<CapabilityName, "OTHER">): boolean {
    return this.discovery.caps.has(name);
  }

  /** Skips unless the server advertises `name` before login. */
  requireCapability(name: Exclude<CapabilityName, "OTHER">): void {
    if (!this.discovery.capa) skip("server does not support CAPA (RFC 2449)");
    if (!this.has(name)) skip(`server does not advertise ${name}`);
  }

  /** Skips unless the suite may seed. */
  requireSeed(): void {
    if (!this.canSeed) skip("needs seeding (no seed function; the suite runs read-only)");
  }

  /** STAT of a logged-in probe. */
  async stat(probe: Probe): Promise<{ count: number; size: number; status: StatusLine }> {
    const answer = await probe.request({ name: "STAT" });
    expectOk(answer.status, "STAT");
    try {
      return { ...parseDropListing(answer.status.reply.text), status: answer.status };
    } catch {
      fail(`STAT answer is not a drop listing: ${said(answer.status)}`);
    }
  }

  /** LIST of a logged-in probe, parsed with `parseScanListing`. */
  async list(probe: Probe): Promise<{ msg: number; size: number }[]> {
    const answer = await probe.request({ name: "LIST" });
    expectOk(answer.status, "LIST");
    return Probe.lines(answer.body as Uint8Array).map((line) => {
      try {
        return parseScanListing(line);
      } catch {
        return fail(`LIST line is not a scan listing: ${quote(line)}`);
      }
    });
  }

  /** UIDL of a logged-in probe, parsed with `parseUidListing`. */
  async uidl(probe: Probe): Promise<{ msg: number; uid: string }[]> {
    const answer = await probe.request({ name: "UIDL" });
    expectOk(answer.status, "UIDL");
    return Probe.lines(answer.body as Uint8Array).map((line) => {
      try {
        return parseUidListing(line);
      } catch {
        return fail(`UIDL line is not a unique-id listing: ${quote(line)}`);
      }
    });
  }

  /** RETR of a logged-in probe: the unstuffed message. */
  async retr(probe: Probe, msg: number): Promise<Uint8Array> {
    const answer = await probe.request({ name: "RETR", msg });
    expectOk(answer.status, `RETR ${msg}`);
    return answer.body as Uint8Array;
  }

  /** Empties the mailbox with DELE and QUIT; throws when it is not empty afterwards. */
  async clearMailbox(): Promise<void> {
    const probe = await this.session();
    try {
      const { count } = await this.stat(probe);
      for (let msg = 1; msg <= count; msg++) {
        const answer = await probe.request({ name: "DELE", msg });
        expectOk(answer.status, `DELE ${msg}`);
      }
      const bye = await probe.raw("QUIT");
      expectOk(bye.status, "QUIT after DELE");
      await probe.waitClosed();
    } finally {
      probe.destroy();
    }
    const check = await this.session();
    try {
      const { count } = await this.stat(check);
      if (count !== 0) fail(`the mailbox still holds ${count} messages after DELE and QUIT`);
    } finally {
      await check.quit();
    }
  }

  /** Empties the mailbox and seeds the fixtures; records the sizes the server lists for them. */
  async seedMailbox(): Promise<void> {
    const seed = this.options.seed;
    if (seed === undefined) return;
    this.seeded = undefined;
    await this.clearMailbox();
    await seed(
      this.options.user,
      this.fixtures.map((f) => f.bytes.slice()),
    );
    const probe = await this.session();
    try {
      const listing = await this.list(probe);
      if (listing.length !== this.fixtures.length) {
        fail(`after seeding ${this.fixtures.length} messages LIST shows ${listing.length}`);
      }
      this.seeded = { sizes: listing.map((l) => l.size) };
    } finally {
      await probe.quit();
    }
  }

  /**
   * A logged-in session on the seeded mailbox. When an earlier check (or a server bug) changed
   * the mailbox, it is emptied and seeded again first.
   */
  async seededSession(): Promise<Probe> {
    this.requireSeed();
    if (this.seeded !== undefined) {
      const probe = await this.session();
      try {
        const listing = await this.list(probe);
        const sizes = this.seeded.sizes;
        if (listing.length === sizes.length && listing.every((l, i) => l.size === sizes[i])) {
          return probe;
        }
      } catch (error) {
        probe.destroy();
        throw error;
      }
      await probe.quit();
    }
    try {
      await this.seedMailbox();
    } catch (error) {
      fail(`could not seed the mailbox: ${errorMessage(error)}`);
    }
    return this.session();
  }
}

/**
 * Sends commands that must each get -ERR, at most two per connection: servers may hang up after
 * a few bad commands (Dovecot does after four before login), which the RFC allows. `open` makes
 * a connection in the right state; `label` says which state, for the reason.
 */
export async function expectRefused(
  open: () => Promise<Probe>,
  lines: readonly string[],
  label: string,
): Promise<void> {
  for (let i = 0; i < lines.length; i += 2) {
    await using probe = await open();
    for (const line of lines.slice(i, i + 2)) {
      expectErr((await probe.raw(line)).status, `${redactLine(line)} ${label}`.trim());
    }
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Capability names for a comparison, upper case; OTHER keywords by their keyword. */
export function capabilityNames(caps: Capabilities): Set<string> {
  return new Set(caps.list.map((c) => (c.name === "OTHER" ? c.keyword.toUpperCase() : c.name)));
}
