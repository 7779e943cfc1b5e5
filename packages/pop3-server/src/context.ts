import { randomBytes } from "node:crypto";
import type { SecureContext, SecureContextOptions } from "node:tls";
import type { PasswordHashPool } from "./auth/hash-pool";
import type { LoginDelayTracker, LoginThrottle } from "./auth/throttle";
import type { ResolvedOptions } from "./options";

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
