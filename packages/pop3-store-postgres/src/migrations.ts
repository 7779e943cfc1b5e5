import type { PoolClient } from "pg";

/** One schema change. Versions only grow; an applied migration is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** The DDL, given the quoted schema name. */
  readonly sql: (schema: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "users, messages, message_chunks",
    sql: (s) => `
      -- A random token fixed when the schema is created: the prefix of every UID, so a database
      -- created anew (after a disaster, without a backup) never hands out an old UID again.
      CREATE TABLE ${s}.store_info (
        key text PRIMARY KEY,
        value text NOT NULL
      );
      INSERT INTO ${s}.store_info (key, value)
        VALUES ('uid_prefix', substr(md5(random()::text || clock_timestamp()::text), 1, 8));

      -- One row per maildrop. The id is the second half of the maildrop's advisory lock key.
      CREATE TABLE ${s}.users (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE SEQUENCE ${s}.message_id_seq AS bigint;

      -- One row per message; the bytes are in message_chunks. A message becomes visible when the
      -- delivery's transaction commits, whole.
      CREATE TABLE ${s}.messages (
        id bigint PRIMARY KEY,
        user_id integer NOT NULL REFERENCES ${s}.users (id) ON DELETE CASCADE,
        -- RFC 1939 unique id: 1-70 characters in 0x21-0x7E, never reused.
        uid text NOT NULL CHECK (uid ~ '^[!-~]{1,70}$'),
        -- RFC 1939 size: CRLF line ends, no dot-stuffing (pop3-core OctetSizeCounter).
        size bigint NOT NULL CHECK (size >= 0),
        -- Raw stored octets.
        octets bigint NOT NULL CHECK (octets >= 0),
        chunk_count integer NOT NULL CHECK (chunk_count >= 0),
        delivered_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (user_id, uid)
      );
      ALTER SEQUENCE ${s}.message_id_seq OWNED BY ${s}.messages.id;
      CREATE INDEX messages_user_order ON ${s}.messages (user_id, id);

      -- The raw bytes, in chunks of the store's chunkSize (256 KiB by default), seq from 0.
      CREATE TABLE ${s}.message_chunks (
        message_id bigint NOT NULL REFERENCES ${s}.messages (id) ON DELETE CASCADE,
        seq integer NOT NULL CHECK (seq >= 0),
        bytes bytea NOT NULL,
        PRIMARY KEY (message_id, seq)
      );
    `,
  },
  {
    version: 2,
    name: "message_chunks.bytes compressed with lz4 where the server has it",
    sql: (s) => `
      -- TOAST compresses chunks with pglz by default: about 35 MB/s per delivery here, the
      -- bottleneck of a delivery. lz4 (PostgreSQL >= 14, built --with-lz4 as the distributions'
      -- packages are) stores base64 attachments as small and several times faster. Only new
      -- chunks are affected; a server without lz4 keeps pglz.
      DO $pop3$
      BEGIN
        EXECUTE 'ALTER TABLE ${s.replace(/'/g, "''")}.message_chunks ALTER COLUMN bytes SET COMPRESSION lz4';
      EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
        RAISE NOTICE 'lz4 compression not available; message chunks stay pglz';
      END
      $pop3$;
    `,
  },
];

/** Quotes a schema name that has already passed the options' identifier check. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The advisory-lock namespace (first key) of migrations, beside the maildrop locks'. */
export function migrationLockNamespace(schema: string): string {
  return `pop3-store-postgres:migrate:${schema}`;
}

/**
 * Brings `schema` up to date, in one transaction under a transaction-level advisory lock: two
 * nodes starting at once take turns, the second finds nothing left to do, and a node that dies
 * half-way leaves nothing behind (DDL is transactional in PostgreSQL). Returns the versions
 * applied now.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number[]> {
  const s = quoteIdentifier(schema);
  const applied: number[] = [];
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1), 0)", [
      migrationLockNamespace(schema),
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${s}.schema_migrations`,
    );
    const done = new Set(rows.map((row) => row.version));
    const newest = Math.max(0, ...done);
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    if (newest > known) {
      throw new Error(
        `schema ${schema} is at version ${newest}, newer than this pop3-store-postgres knows (${known}): upgrade the package`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
  return applied;
}
