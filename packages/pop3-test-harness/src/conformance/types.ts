/** How strongly the RFC asks for what a check tests (RFC 2119 keywords). */
export type ConformanceLevel = "MUST" | "SHOULD" | "MAY";

export type ConformanceResult = "pass" | "fail" | "skip";

/** How the suite reaches the server. */
export type ConformanceTls = "none" | "starttls" | "implicit";

export interface ConformanceTlsOptions {
  /** Certificates to trust (PEM), e.g. a test server's self-signed certificate. */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /**
   * Name the certificate must match; defaults to the host. Sent as SNI when it is a host name, not
   * an IP address (RFC 6066 §3); an IP address is checked against the certificate's IP names.
   */
  readonly servername?: string;
  /** Verify the certificate (default true). */
  readonly rejectUnauthorized?: boolean;
}

export interface ConformanceOptions {
  readonly host: string;
  readonly port: number;
  /**
   * `none` (default): cleartext, STLS only probed by the STLS checks; `starttls`: every session
   * upgrades with STLS before it logs in; `implicit`: TLS from the first byte (port 995).
   */
  readonly tls?: ConformanceTls;
  readonly tlsOptions?: ConformanceTlsOptions;
  /** A mailbox the suite may use. With `seed`, the suite owns it and deletes what is in it. */
  readonly user: string;
  readonly password: string;
  /** Another account, for the check that a lock is per maildrop. */
  readonly secondUser?: { readonly user: string; readonly password: string };
  /**
   * Puts messages in a user's maildrop (appended, in order). With it the suite empties the
   * mailbox (DELE + QUIT) and seeds its own messages; without it the suite is read-only (it never
   * sends DELE followed by QUIT) and skips the checks that need known mail or deletion.
   */
  readonly seed?: (user: string, messages: Uint8Array[]) => Promise<void>;
  /** Run only these checks (ids). */
  readonly only?: readonly string[];
  /** Longest wait for any answer, in milliseconds (default 10000). */
  readonly timeoutMs?: number;
}

/** What a check tests and where the RFC says so. */
export interface CheckInfo {
  /** Stable id, e.g. `rfc1939-greeting-positive`. */
  readonly id: string;
  readonly title: string;
  /** e.g. `RFC 1939`. */
  readonly rfc: string;
  /** e.g. `§4`. */
  readonly section: string;
  /** `RFC 1939 §4`. */
  readonly reference: string;
  readonly level: ConformanceLevel;
}

export interface CheckResult extends CheckInfo {
  readonly result: ConformanceResult;
  /** Why it failed or was skipped (quoting the server), or a note on a pass. At most 200 characters. */
  readonly reason?: string;
}

export interface ResultCounts {
  pass: number;
  fail: number;
  skip: number;
}

export interface ConformanceSummary {
  readonly total: ResultCounts;
  readonly MUST: ResultCounts;
  readonly SHOULD: ResultCounts;
  readonly MAY: ResultCounts;
}

/** The outcome of a run; plain data, safe for `JSON.stringify`. */
export interface ConformanceReport {
  readonly target: { readonly host: string; readonly port: number; readonly tls: ConformanceTls };
  /** The greeting of the first connection. */
  readonly greeting: string;
  /** CAPA before login (after STLS with `starttls`), one line each; empty without CAPA. */
  readonly capabilities: readonly string[];
  /** CAPA after login. */
  readonly capabilitiesAfterLogin: readonly string[];
  /** The suite seeded the mailbox (it had `seed`). */
  readonly seeded: boolean;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly checks: readonly CheckResult[];
  readonly summary: ConformanceSummary;
}
