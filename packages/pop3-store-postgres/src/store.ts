import pg from "pg";
import { OctetSizeCounter } from "pop3-core";
import {
  BackendError,
  InvalidUserError,
  type Logger,
  MAX_READ_CHUNK,
  type Maildrop,
  MaildropInUseError,
  type MailStore,
  type MessageInfo,
  silentLogger,
} from "pop3-server";
import { migrate, quoteIdentifier } from "./migrations";
import {
  type PostgresStoreOptions,
  type ResolvedPostgresStoreOptions,
  resolvePostgresStoreOptions,
} from "./options";

/** What `deliver` accepts: the whole message, or its bytes as they arrive (a Node `Readable`, a web `ReadableStream`, any iterable of chunks). */
export type MessageSource =
  | Uint8Array
  | string
  | Iterable<Uint8Array | string>
  | AsyncIterable<Uint8Array | string>;

export interface DeliverOptions {
  /** Aborting rolls the delivery back: nothing is stored. */
  readonly signal?: AbortSignal;
}

/** A stored message: its UID and RFC 1939 size. */
export interface DeliveredMessage {
  readonly uid: string;
  readonly size: number;
}

/** A checked-out connection; `broken` ones are destroyed (not pooled) on release. */
interface Lease {
  readonly client: pg.PoolClient;
  broken: boolean;
  release(): void;
}

interface MessageRow {
  readonly id: string;
  readonly info: MessageInfo;
  readonly chunks: number;
}

interface StoreInfo {
  readonly uidPrefix: string;
}

const encoder = new TextEncoder();

/**
 * A `MailStore` in PostgreSQL, for several pop3-server nodes sharing one database.
 *
 * - Messages are rows of `messages` (uid, RFC size, raw octets, chunk count) with their bytes in
 *   `message_chunks` of `chunkSize` (256 KiB); a RETR reads one chunk per query, so a message of
 *   any size costs one chunk of memory.
 * - The maildrop lock is a session-level advisory lock, `pg_try_advisory_lock(hashtext(
 *   'pop3-store-postgres:<schema>'), users.id)`, taken on a connection the session keeps for its
 *   lifetime: a second session on any node gets `MaildropInUseError`, and a node that dies
 *   releases its locks when its database connections end.
 * - `commit` deletes in one transaction on that same connection, so it can only succeed while the
 *   lock is still held; any failure is a `BackendError` and deletes nothing.
 * - Schema migrations run on start, under an advisory lock (safe with nodes starting together).
 */
export class PostgresStore implements MailStore, AsyncDisposable {
  readonly options: ResolvedPostgresStoreOptions;
  /** The connection pool (for inspection; the store owns it and ends it in `close`). */
  readonly pool: pg.Pool;
  readonly #logger: Logger;
  readonly #schema: string;
  readonly #lockNamespace: string;
  #ready: Promise<StoreInfo> | undefined;
  #closing: Promise<void> | undefined;

  constructor(input: PostgresStoreOptions = {}) {
    const options = resolvePostgresStoreOptions(input);
    this.options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#schema = quoteIdentifier(options.schema);
    this.#lockNamespace = `pop3-store-postgres:${options.schema}`;
    const statementTimeout = options.statementTimeoutMs;
    this.pool = new pg.Pool({
      ...(options.connectionString === undefined
        ? {}
        : { connectionString: options.connectionString }),
      ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
      max: options.poolSize,
      connectionTimeoutMillis: options.connectionTimeoutMs,
      idleTimeoutMillis: options.idleTimeoutMs,
      application_name: options.applicationName,
      // A database that went away without a FIN (a dead host) is noticed by TCP keepalives.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(statementTimeout > 0
        ? // The server-side limit, plus a client-side one for a network that stopped answering.
          { statement_timeout: statementTimeout, query_timeout: statementTimeout + 10_000 }
        : {}),
    });
    // An idle pooled connection that dies (database restart) is dropped by the pool; without a
    // listener the 'error' event would end the process.
    this.pool.on("error", (error) => {
      this.#logger.warn({ err: error.message }, "postgres: idle connection failed");
    });
  }

  /**
   * Runs the migrations (unless `migrate` is false) and reads the store's settings. Called by
   * `createPostgresStore` and, lazily, by the first `openMaildrop` or `deliver`; a failure is
   * retried on the next call.
   */
  ready(): Promise<void> {
    return this.#info().then(() => undefined);
  }

  #info(): Promise<StoreInfo> {
    if (this.#closing !== undefined) return Promise.reject(closedStoreError());
    if (this.#ready === undefined) {
      const attempt = this.#prepare();
      this.#ready = attempt;
      attempt.catch(() => {
        if (this.#ready === attempt) this.#ready = undefined;
      });
    }
    return this.#ready;
  }

  async #prepare(): Promise<StoreInfo> {
    const lease = await this.#connect();
    try {
      if (this.options.migrate) {
        const applied = await migrate(lease.client, this.options.schema);
        if (applied.length > 0) {
          this.#logger.info(
            { schema: this.options.schema, versions: applied },
            "postgres: schema migrated",
          );
        }
      }
      const { rows } = await lease.client.query<{ value: string }>(
        `SELECT value FROM ${this.#schema}.store_info WHERE key = 'uid_prefix'`,
      );
      const prefix = rows[0]?.value;
      if (prefix === undefined) throw new Error("store_info has no uid_prefix");
      return { uidPrefix: prefix };
    } catch (error) {
      lease.broken = true;
      throw backendError(`the store schema "${this.options.schema}" is not usable`, error);
    } finally {
      lease.release();
    }
  }

  async openMaildrop(user: string, signal?: AbortSignal): Promise<Maildrop> {
    signal?.throwIfAborted();
    checkUser(user);
    await this.#info();
    signal?.throwIfAborted();
    const lease = await this.#connect();
    let locked = false;
    try {
      const userId = await this.#userId(lease.client, user);
      const { rows } = await lease.client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext($1), $2) AS locked",
        [this.#lockNamespace, userId],
      );
      if (rows[0]?.locked !== true) throw new MaildropInUseError();
      locked = true;
      signal?.throwIfAborted();
      const snapshot = await lease.client.query<{
        id: string;
        uid: string;
        size: string;
        chunk_count: number;
      }>(
        `SELECT id, uid, size, chunk_count FROM ${this.#schema}.messages
          WHERE user_id = $1 ORDER BY id`,
        [userId],
      );
      const messages = snapshot.rows.map(
        (row): MessageRow => ({
          id: row.id,
          info: Object.freeze({ uid: row.uid, size: Number(row.size) }),
          chunks: row.chunk_count,
        }),
      );
      return new PostgresMaildrop(lease, {
        schema: this.#schema,
        lockNamespace: this.#lockNamespace,
        userId,
        messages,
        logger: this.#logger,
        user,
      });
    } catch (error) {
      // Destroying the connection is what frees a lock taken here: nothing can leak it.
      if (locked || !(error instanceof MaildropInUseError)) lease.broken = true;
      lease.release();
      if (error instanceof MaildropInUseError || isAbortError(error)) throw error;
      throw backendError("opening the maildrop failed", error);
    }
  }

  /**
   * Stores a message for `user` (created on first use): the bytes are written in chunks inside
   * one transaction, so the message appears whole, in the next session, or not at all. A source
   * that fails (or an abort) rolls back and rethrows its error; a database failure is a
   * `BackendError`. Returns the new UID and the RFC 1939 size.
   */
  async deliver(
    user: string,
    message: MessageSource,
    options: DeliverOptions = {},
  ): Promise<DeliveredMessage> {
    const { signal } = options;
    signal?.throwIfAborted();
    checkUser(user);
    const info = await this.#info();
    const lease = await this.#connect();
    const { client } = lease;
    let callerError: { error: unknown } | undefined;
    try {
      const userId = await this.#userId(client, user);
      await client.query("BEGIN");
      const inserted = await client.query<{ id: string; uid: string }>(
        `WITH n AS (SELECT nextval('${this.#schema}.message_id_seq') AS id)
         INSERT INTO ${this.#schema}.messages (id, user_id, uid, size, octets, chunk_count)
         SELECT n.id, $1, $2 || n.id::text, 0, 0, 0 FROM n
         RETURNING id, uid`,
        [userId, `${info.uidPrefix}.`],
      );
      const row = inserted.rows[0];
      if (row === undefined) throw new Error("INSERT returned no row");
      const { chunkSize, maxMessageSize } = this.options;
      const counter = new OctetSizeCounter();
      const buffer = Buffer.allocUnsafe(chunkSize);
      let filled = 0;
      let octets = 0;
      let seq = 0;
      const flush = async (): Promise<void> => {
        if (filled === 0) return;
        await client.query(
          `INSERT INTO ${this.#schema}.message_chunks (message_id, seq, bytes) VALUES ($1, $2, $3)`,
          [row.id, seq, buffer.subarray(0, filled)],
        );
        seq += 1;
        filled = 0;
      };
      const iterator = chunksOf(message)[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          signal?.throwIfAborted();
          next = await iterator.next();
          signal?.throwIfAborted();
        } catch (error) {
          callerError = { error };
          throw error;
        }
        if (next.done) break;
        const piece = next.value;
        octets += piece.length;
        if (maxMessageSize > 0 && octets > maxMessageSize) {
          const error = new RangeError(`message larger than maxMessageSize (${maxMessageSize})`);
          callerError = { error };
          await iterator.return?.(undefined).catch(() => {});
          throw error;
        }
        counter.push(piece);
        let offset = 0;
        while (offset < piece.length) {
          const take = Math.min(chunkSize - filled, piece.length - offset);
          buffer.set(piece.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled === chunkSize) await flush();
        }
      }
      await flush();
      const size = counter.end();
      await client.query(
        `UPDATE ${this.#schema}.messages SET size = $2, octets = $3, chunk_count = $4 WHERE id = $1`,
        [row.id, size, octets, seq],
      );
      await client.query("COMMIT");
      return { uid: row.uid, size };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {
        lease.broken = true;
      });
      if (callerError !== undefined) throw callerError.error;
      lease.broken = true;
      throw backendError("delivery failed", error);
    } finally {
      lease.release();
    }
  }

  /**
   * The messages in `user`'s maildrop now, in message-number order, without taking the lock
   * (for tools and tests). A user without mail has none.
   */
  async list(user: string): Promise<MessageInfo[]> {
    checkUser(user);
    await this.#info();
    const lease = await this.#connect();
    try {
      const { rows } = await lease.client.query<{ uid: string; size: string }>(
        `SELECT m.uid, m.size FROM ${this.#schema}.messages m
           JOIN ${this.#schema}.users u ON u.id = m.user_id
          WHERE u.name = $1 ORDER BY m.id`,
        [user],
      );
      return rows.map((row) => ({ uid: row.uid, size: Number(row.size) }));
    } catch (error) {
      lease.broken = true;
      throw backendError("listing the maildrop failed", error);
    } finally {
      lease.release();
    }
  }

  /** Ends the pool once every maildrop has been released. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= this.pool.end();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #connect(): Promise<Lease> {
    if (this.#closing !== undefined) throw closedStoreError();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw backendError("no database connection", error);
    }
    // While checked out, a connection's errors are ours to handle (the pool listens only to
    // idle ones); the lease is then broken and the connection is destroyed on release.
    const lease: Lease = {
      client,
      broken: false,
      release: () => {
        client.off("error", onError);
        client.release(lease.broken ? new Error("connection discarded after an error") : undefined);
      },
    };
    const onError = (error: Error): void => {
      lease.broken = true;
      this.#logger.warn({ err: error.message }, "postgres: connection failed");
    };
    client.on("error", onError);
    return lease;
  }

  async #userId(client: pg.PoolClient, user: string): Promise<number> {
    const select = `SELECT id FROM ${this.#schema}.users WHERE name = $1`;
    const found = await client.query<{ id: number }>(select, [user]);
    if (found.rows[0] !== undefined) return found.rows[0].id;
    const created = await client.query<{ id: number }>(
      `INSERT INTO ${this.#schema}.users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id`,
      [user],
    );
    if (created.rows[0] !== undefined) return created.rows[0].id;
    // Another node created it between the two statements.
    const again = await client.query<{ id: number }>(select, [user]);
    if (again.rows[0] === undefined)
      throw new Error(`user row for ${JSON.stringify(user)} vanished`);
    return again.rows[0].id;
  }
}

/** Creates a `PostgresStore` and waits until its schema is migrated and usable. */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const store = new PostgresStore(options);
  try {
    await store.ready();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

interface MaildropSetup {
  readonly schema: string;
  readonly lockNamespace: string;
  readonly userId: number;
  readonly user: string;
  readonly messages: readonly MessageRow[];
  readonly logger: Logger;
}

class PostgresMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #lease: Lease;
  readonly #setup: MaildropSetup;
  /** Chunk queries in flight; the connection goes back to the pool only once they settle. */
  readonly #inflight = new Set<Promise<unknown>>();
  #open = true;
  #closing: Promise<void> | undefined;

  constructor(lease: Lease, setup: MaildropSetup) {
    this.#lease = lease;
    this.#setup = setup;
    this.messages = Object.freeze(setup.messages.map((m) => m.info));
  }

  /** Errors (closed maildrop, bad index, abort) surface when the iteration starts. */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#read(index, signal);
  }

  async *#read(index: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    if (!this.#open) throw closedMaildropError();
    const row = Number.isInteger(index) ? this.#setup.messages[index] : undefined;
    if (row === undefined) throw new RangeError(`no message at index ${index}`);
    signal?.throwIfAborted();
    // One chunk is read ahead while the previous one is being sent.
    let next = row.chunks > 0 ? this.#chunk(row, 0) : undefined;
    try {
      for (let seq = 0; seq < row.chunks; seq++) {
        const bytes = await (next as Promise<Buffer>);
        next = seq + 1 < row.chunks ? this.#chunk(row, seq + 1) : undefined;
        for (let start = 0; start < bytes.length; start += MAX_READ_CHUNK) {
          signal?.throwIfAborted();
          yield bytes.subarray(start, Math.min(start + MAX_READ_CHUNK, bytes.length));
        }
      }
      signal?.throwIfAborted();
    } finally {
      if (next !== undefined) await next.catch(() => {});
    }
  }

  #chunk(row: MessageRow, seq: number): Promise<Buffer> {
    if (!this.#open) return Promise.reject(closedMaildropError());
    if (this.#lease.broken) {
      return Promise.reject(backendError("the database connection was lost", undefined));
    }
    const query = this.#lease.client
      .query<{ bytes: Buffer }>(
        `SELECT bytes FROM ${this.#setup.schema}.message_chunks WHERE message_id = $1 AND seq = $2`,
        [row.id, seq],
      )
      .then(
        (result) => {
          const bytes = result.rows[0]?.bytes;
          if (bytes === undefined) throw new Error(`chunk ${seq} of message ${row.id} is missing`);
          return bytes;
        },
        (error: unknown) => {
          this.#lease.broken = true;
          throw backendError("reading the message failed", error);
        },
      );
    this.#inflight.add(query);
    const settled = (): void => {
      this.#inflight.delete(query);
    };
    query.then(settled, settled);
    return query;
  }

  /** Removes the messages in one transaction, then releases the lock, also when it fails. */
  commit(deletedUids: readonly string[]): Promise<void> {
    if (!this.#open || this.#closing !== undefined) return Promise.reject(closedMaildropError());
    this.#open = false;
    this.#closing = this.#commit(deletedUids);
    return this.#closing;
  }

  async #commit(deletedUids: readonly string[]): Promise<void> {
    const { client } = this.#lease;
    try {
      await this.#settleReads();
      const wanted = new Set(deletedUids);
      const ids = this.#setup.messages.filter((m) => wanted.has(m.info.uid)).map((m) => m.id);
      if (ids.length === 0) return;
      // The lock lives on this connection: if it was lost, so is the lock, and nothing may go.
      if (this.#lease.broken) throw new Error("the database connection holding the lock was lost");
      await client.query("BEGIN");
      await client.query(
        `DELETE FROM ${this.#setup.schema}.messages WHERE user_id = $1 AND id = ANY($2::bigint[])`,
        [this.#setup.userId, ids],
      );
      await client.query("COMMIT");
    } catch (error) {
      // A half-done transaction is rolled back by PostgreSQL when the connection is destroyed.
      this.#lease.broken = true;
      this.#setup.logger.error(
        { user: this.#setup.user, err: error instanceof Error ? error.message : String(error) },
        "postgres: commit failed, nothing deleted",
      );
      throw backendError("the deletions could not be committed", error);
    } finally {
      await this.#unlock();
    }
  }

  /** Gives the lock back without deleting anything; waits for a commit in progress. */
  async release(): Promise<void> {
    if (this.#closing !== undefined) {
      await this.#closing.catch(() => {});
      return;
    }
    this.#open = false;
    this.#closing = (async () => {
      await this.#settleReads();
      await this.#unlock();
    })();
    await this.#closing;
  }

  async #settleReads(): Promise<void> {
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight]);
    }
  }

  async #unlock(): Promise<void> {
    const lease = this.#lease;
    if (!lease.broken) {
      try {
        await lease.client.query("SELECT pg_advisory_unlock(hashtext($1), $2)", [
          this.#setup.lockNamespace,
          this.#setup.userId,
        ]);
      } catch {
        // Destroying the connection below ends the lock as well.
        lease.broken = true;
      }
    }
    lease.release();
  }
}

function checkUser(user: string): void {
  if (
    typeof user !== "string" ||
    user.length === 0 ||
    user.length > 1024 ||
    // PostgreSQL text holds no NUL; a lone surrogate would not survive UTF-8.
    user.includes("\0") ||
    /[\uD800-\uDFFF]/u.test(user)
  ) {
    throw new InvalidUserError("the user name can not name a maildrop");
  }
}

async function* chunksOf(message: MessageSource): AsyncGenerator<Uint8Array> {
  if (typeof message === "string") {
    yield encoder.encode(message);
    return;
  }
  if (message instanceof Uint8Array) {
    yield message;
    return;
  }
  for await (const piece of message) {
    yield typeof piece === "string" ? encoder.encode(piece) : piece;
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

function backendError(message: string, cause: unknown): BackendError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new BackendError("POP3_STORE", `${message}${detail}`, { cause });
}

function closedMaildropError(): BackendError {
  return new BackendError("POP3_STORE", "the maildrop is closed (committed or released)");
}

function closedStoreError(): BackendError {
  return new BackendError("POP3_STORE", "the store is closed");
}
