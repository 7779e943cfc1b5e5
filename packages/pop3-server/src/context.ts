import { randomBytes } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { PasswordHashPool } from "./auth/hash-pool";
import { LoginDelayTracker, LoginThrottle } from "./auth/throttle";
import type { ResolvedOptions, TlsOptions } from "./options";

/** Counters of one server since it started. */
export interface ServerStats {
  /** Connections accepted (both listeners). */
  connections: number;
  /** Connections refused by a connection limit or during shutdown. */
  connectionsRejected: number;
  /** Connections open now. */
  activeConnections: number;
  /** Successful logins. */
  sessions: number;
  authFailures: number;
  commands: number;
  bytesSent: number;
  bytesReceived: number;
  /** Sessions that ended with QUIT in TRANSACTION and committed their deletions. */
  updates: number;
  messagesDeleted: number;
}

export function emptyStats(): ServerStats {
  return {
    connections: 0,
    connectionsRejected: 0,
    activeConnections: 0,
    sessions: 0,
    authFailures: 0,
    commands: 0,
    bytesSent: 0,
    bytesReceived: 0,
    updates: 0,
    messagesDeleted: 0,
  };
}

/** What every connection of one server shares. */
export interface ServerContext {
  readonly options: ResolvedOptions;
  readonly stats: ServerStats;
  readonly throttle: LoginThrottle;
  /** Password hashing for logins: worker threads, bounded queue; closed with the server. */
  readonly hashPool: PasswordHashPool;
  readonly loginDelays: LoginDelayTracker;
  /** What STLS needs to start TLS on a plain socket; undefined when TLS is not configured. */
  readonly tls: TlsSetup | undefined;
}

export interface TlsSetup {
  readonly secureContext: SecureContext;
  /** The same default certificate as options, for `tls.createServer`. */
  readonly contextOptions: SecureContextOptions;
  readonly SNICallback: (
    servername: string,
    callback: (error: Error | null, context?: SecureContext) => void,
  ) => void;
}

/**
 * A unique `<...@host>` token for the APOP greeting (RFC 1939 §7: it MUST differ on every
 * connection) and for CRAM-MD5 challenges (RFC 2195).
 */
export function uniqueTimestamp(hostname: string): string {
  return `<${process.pid}.${randomBytes(8).toString("hex")}.${Date.now()}@${hostname}>`;
}

/** The shared parts of a server built from its options: counters, throttles, hash pool, TLS. */
export function createServerContext(options: ResolvedOptions): ServerContext {
  const { limits } = options;
  return {
    options,
    stats: emptyStats(),
    tls: options.tls === undefined ? undefined : tlsSetup(options.tls),
    throttle: new LoginThrottle({
      baseDelayMs: limits.failedLoginDelayMs,
      maxDelayMs: limits.maxFailedLoginDelayMs,
      maxFailuresPerAddress: limits.maxFailedLoginsPerAddress,
      maxFailuresPerUser: limits.maxFailedLoginsPerUser,
      resetAfterMs: limits.failedLoginWindowMs,
    }),
    hashPool: new PasswordHashPool({
      concurrency: limits.passwordHashConcurrency,
      maxQueue: limits.passwordHashQueueLength,
      queueTimeoutMs: limits.passwordHashQueueTimeoutMs,
    }),
    loginDelays: new LoginDelayTracker(),
  };
}

function tlsSetup(options: TlsOptions): TlsSetup {
  const base = {
    minVersion: options.minVersion,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
  const secureContext = createSecureContext({ ...base, key: options.key, cert: options.cert });
  const byName = new Map<string, SecureContext>();
  for (const [name, pair] of Object.entries(options.sni ?? {})) {
    byName.set(
      name.toLowerCase(),
      createSecureContext({ ...base, key: pair.key, cert: pair.cert }),
    );
  }
  return {
    secureContext,
    contextOptions: { ...base, key: options.key, cert: options.cert },
    SNICallback: (servername, callback) => {
      const name = servername.toLowerCase();
      // An exact name, else a wildcard entry for its parent domain, else the default pair.
      const wildcard = `*.${name.slice(name.indexOf(".") + 1)}`;
      callback(null, byName.get(name) ?? byName.get(wildcard) ?? secureContext);
    },
  };
}
