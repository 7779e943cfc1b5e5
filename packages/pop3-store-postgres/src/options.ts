import type { ConnectionOptions } from "node:tls";
import { ConfigError, type Logger, MAX_READ_CHUNK } from "pop3-server";
import { z } from "zod";

const logger = z.custom<Logger>(
  (v) =>
    typeof v === "object" &&
    v !== null &&
    ["debug", "info", "warn", "error"].every(
      (level) => typeof (v as Record<string, unknown>)[level] === "function",
    ),
  "logger must have debug, info, warn and error",
);

export const postgresStoreOptionsSchema = z.object({
  /**
   * `postgres://user:password@host:port/database?...`. Without it, pg reads the usual
   * environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD).
   */
  connectionString: z.string().min(1).optional(),
  /**
   * The lock connection's own `postgres://...`, when the pool goes through a pooler in
   * transaction mode (PgBouncer `pool_mode = transaction`): the maildrop locks are session-level
   * advisory locks, so the lock connection needs a server connection of its own for its whole
   * life — PostgreSQL directly, or a PgBouncer database in session mode. It must reach the
   * same database as the pool (checked at start). Defaults to `connectionString`.
   */
  lockConnectionString: z.string().min(1).optional(),
  /** TLS to the database: `true`, or Node `tls.connect` options (ca, servername, ...). */
  ssl: z.union([z.boolean(), z.custom<ConnectionOptions>((v) => typeof v === "object")]).optional(),
  /**
   * The PostgreSQL schema (namespace) that holds the tables; created by the migrations. Nodes
   * that share maildrops must use the same database and schema.
   */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "schema must be a lowercase SQL identifier (a-z, 0-9, _)")
    .default("pop3"),
  /**
   * Connections in the pool, which serves logins (lookup and snapshot), RETR chunks, UPDATE and
   * deliveries, each for one query or transaction. Sessions hold no pooled connection while
   * idle: a node uses at most `poolSize + 1` connections (the +1 is the lock connection that
   * holds all its maildrop locks), however many sessions it has.
   */
  poolSize: z.number().int().min(1).max(10_000).default(10),
  /** How long to wait for a connection (new, or free in the pool) before failing. */
  connectionTimeoutMs: z.number().int().min(1).default(10_000),
  /** `statement_timeout` of every connection; 0 turns it off. */
  statementTimeoutMs: z.number().int().min(0).default(30_000),
  /** Unused connections are closed after this long. */
  idleTimeoutMs: z.number().int().min(0).default(30_000),
  /** Stored chunk size; a RETR reads one chunk at a time (and yields 64 KiB slices of it). */
  chunkSize: z
    .number()
    .int()
    .min(MAX_READ_CHUNK)
    .max(16 * 1024 * 1024)
    .default(256 * 1024),
  /**
   * Node-wide bound on message bytes read ahead: a RETR of a small message fetches the small
   * messages after it in the same query (up to 1 MiB per session), kept until they are asked for
   * or for 5 s. 0 turns read-ahead off (one query per message).
   */
  readAheadBytes: z
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024),
  /** Largest message `deliver` accepts (raw octets); 0 means no limit. */
  maxMessageSize: z.number().int().min(0).default(0),
  /** Run the schema migrations when the store starts. */
  migrate: z.boolean().default(true),
  /** `application_name` of the pool's connections and of the lock connection (pg_stat_activity). */
  applicationName: z.string().max(63).default("pop3-store-postgres"),
  logger: logger.optional(),
});

export type PostgresStoreOptions = z.input<typeof postgresStoreOptionsSchema>;
export type ResolvedPostgresStoreOptions = z.output<typeof postgresStoreOptionsSchema>;

/** Validates once, at the boundary; a `ConfigError` (`POP3_CONFIG`) lists every problem. */
export function resolvePostgresStoreOptions(
  input: PostgresStoreOptions,
): ResolvedPostgresStoreOptions {
  const result = postgresStoreOptionsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    return `${path}${issue.message}`;
  });
  throw new ConfigError(`invalid pop3-store-postgres options:\n- ${problems.join("\n- ")}`);
}
