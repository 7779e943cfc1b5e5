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

/** A checked-out pool connection; `broken` ones are destroyed (not pooled) on release. */
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

/**
 * One backend of the node's lock connection. Its session-level advisory locks are the maildrop
 * locks of every session of this node; `pid` and `backendStart` name it for the check in
 * `commit` (a pid alone could be reused by a later backend).
 */
interface LockBackend {
  readonly client: pg.Client;
  readonly pid: number;
  /** `pg_stat_activity.backend_start` as PostgreSQL prints it (microseconds intact). */
  readonly backendStart: string;
  /** Set when the connection ended or failed: every lock it held is gone. */
  lost: boolean;
  /** The last query queued on it (see `lockQuery`). */
  tail: Promise<unknown>;
}

/**
 * Runs one query on the lock connection after the ones queued before it. Its queries are tiny
 * (try-lock, unlock), so one connection keeps up with many sessions; pg itself no longer wants
 * overlapping `query` calls on one client.
 */
function lockQuery<R extends pg.QueryResultRow>(
  backend: LockBackend,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  const run = backend.tail.then(() => {
    if (backend.lost) throw new Error("the lock connection has ended");
    return backend.client.query<R>(text, values);
  });
  backend.tail = run.catch(() => {});
  return run;
}

/**
 * A user's entry in the node's table of maildrops it has locked. `backend` is unset while the
 * lock is being taken; an entry whose backend is lost no longer locks anything.
 */
interface LockHolder {
  backend: LockBackend | undefined;
}

/**
 * The maildrop lock of a session was lost: the node's lock connection ended (database restart,
 * `pg_terminate_backend`, network) after the session logged in, so another session may hold the
 * maildrop now. `commit` deletes nothing and rejects with it (`-ERR [SYS/TEMP] some deleted
 * messages not removed`); reads reject with it too. Code `POP3_STORE`, like every store failure.
 */
export class MaildropLockLostError extends BackendError {
  constructor(message = "the maildrop lock was lost (the node's lock connection ended)") {
    super("POP3_STORE", message);
    this.name = "MaildropLockLostError";
  }
}

/** What a maildrop needs from its store. */
interface SessionContext {
  readonly schema: string;
  readonly lockNamespace: string;
  readonly userId: number;
  readonly user: string;
  readonly messages: readonly MessageRow[];
  readonly logger: Logger;
  readonly holder: LockHolder;
  /** Runs `use` on a pooled connection, returned (or destroyed, after an error) when it settles. */
  withLease<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Gives the lock back on the lock connection and forgets it; never rejects. */
  unlock(): Promise<void>;
  /** The database says this lock backend has ended. */
  lockBackendGone(backend: LockBackend): void;
}

const encoder = new TextEncoder();

/**
 * A `MailStore` in PostgreSQL, for several pop3-server nodes sharing one database.
 *
 * - Messages are rows of `messages` (uid, RFC size, raw octets, chunk count) with their bytes in
 *   `message_chunks` of `chunkSize` (256 KiB); a RETR reads one chunk per query, so a message of
 *   any size costs one chunk of memory.
 * - The maildrop lock is a session-level advisory lock, `pg_try_advisory_lock(hashtext(
 *   'pop3-store-postgres:<schema>'), users.id)`, taken on the node's one **lock connection**,
 *   which holds the locks of all its sessions: a second session on any node gets
 *   `MaildropInUseError`, and a node that dies releases them all when that connection ends.
 *   Advisory locks are re-entrant within a backend, so the node itself refuses a second session
 *   of a user it already holds (an in-process table).
 * - Everything else (logins' lookups, snapshots, RETR chunks, deliveries, UPDATE) uses a small
 *   pool (`poolSize`), so sessions cost no connection while they sit idle.
 * - `commit` deletes in one transaction that first proves, from `pg_locks`, that the lock
 *   connection's backend which took the session's lock still holds it; otherwise it deletes
 *   nothing and rejects with `MaildropLockLostError`.
 * - Schema migrations run on start, under an advisory lock (safe with nodes starting together).
 */
export class PostgresStore implements MailStore, AsyncDisposable {
  readonly options: ResolvedPostgresStoreOptions;
  /** The connection pool (for inspection; the store owns it and ends it in `close`). */
  readonly pool: pg.Pool;
  readonly #logger: Logger;
  readonly #schema: string;
  readonly #lockNamespace: string;
  readonly #lockConfig: pg.ClientConfig;
  /** The lock connection now, if it is up; a lost one is dropped and replaced on the next login. */
  #lock: LockBackend | undefined;
  #lockConnecting: Promise<LockBackend> | undefined;
  /** users.id → holder, for every maildrop this node has locked or is locking. */
  readonly #held = new Map<number, LockHolder>();
  #ready: Promise<StoreInfo> | undefined;
  #closing: Promise<void> | undefined;

  constructor(input: PostgresStoreOptions = {}) {
    const options = resolvePostgresStoreOptions(input);
    this.options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#schema = quoteIdentifier(options.schema);
    this.#lockNamespace = `pop3-store-postgres:${options.schema}`;
    const statementTimeout = options.statementTimeoutMs;
    const common = {
      ...(options.connectionString === undefined
        ? {}
        : { connectionString: options.connectionString }),
      ...(options.ssl === undefined ? {} : { ssl: options.ssl }),
      connectionTimeoutMillis: options.connectionTimeoutMs,
      application_name: options.applicationName,
      // A database that went away without a FIN (a dead host) is noticed by TCP keepalives.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(statementTimeout > 0
        ? // The server-side limit, plus a client-side one for a network that stopped answering.
          { statement_timeout: statementTimeout, query_timeout: statementTimeout + 10_000 }
        : {}),
    };
    this.#lockConfig = common;
    this.pool = new pg.Pool({
      ...common,
      max: options.poolSize,
      idleTimeoutMillis: options.idleTimeoutMs,
    });
    // An idle pooled connection that dies (database restart) is dropped by the pool; without a
    // listener the 'error' event would end the process.
    this.pool.on("error", (error) => {
      this.#logger.warn({ err: error.message }, "postgres: idle connection failed");
    });
  }

  /**
   * The process id of the backend behind this node's lock connection (the `pid` of its advisory
   * locks in `pg_locks`), or `undefined` while there is none. For operators and tests.
   */
  get lockBackendPid(): number | undefined {
    return this.#lock?.lost === false ? this.#lock.pid : undefined;
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
    let userId: number;
    try {
      userId = await this.#withLease((client) => this.#userId(client, user));
    } catch (error) {
      throw backendError("opening the maildrop failed", error);
    }
    // Advisory locks are re-entrant within a backend, and all of this node's sessions share
    // one: a second session of the same user must be refused here, before the database is asked
    // (and before an await, so two logins at once can not both pass).
    const existing = this.#held.get(userId);
    if (existing !== undefined && existing.backend?.lost !== true) throw new MaildropInUseError();
    const holder: LockHolder = { backend: undefined };
    this.#held.set(userId, holder);
    let locked = false;
    try {
      await this.#takeLock(holder, userId);
      locked = true;
      signal?.throwIfAborted();
      const messages = await this.#withLease(async (client) => {
        // Fencing against a commit of a session that lost this lock a moment ago: that commit
        // holds the user row FOR NO KEY UPDATE from before its pg_locks check until it ends, so
        // waiting here for a conflicting row lock orders our snapshot (the next statement) after
        // its deletions. See the README, "The lock".
        await client.query(`SELECT 1 FROM ${this.#schema}.users WHERE id = $1 FOR SHARE`, [userId]);
        const snapshot = await client.query<{
          id: string;
          uid: string;
          size: string;
          chunk_count: number;
        }>(
          `SELECT id, uid, size, chunk_count FROM ${this.#schema}.messages
            WHERE user_id = $1 ORDER BY id`,
          [userId],
        );
        return snapshot.rows.map(
          (row): MessageRow => ({
            id: row.id,
            info: Object.freeze({ uid: row.uid, size: Number(row.size) }),
            chunks: row.chunk_count,
          }),
        );
      });
      return new PostgresMaildrop({
        schema: this.#schema,
        lockNamespace: this.#lockNamespace,
        userId,
        messages,
        logger: this.#logger,
        user,
        holder,
        withLease: (use) => this.#withLease(use),
        unlock: () => this.#unlock(userId, holder),
        lockBackendGone: (backend) =>
          this.#lockLost(backend, new Error("pg_stat_activity no longer shows the lock backend")),
      });
    } catch (error) {
      if (locked) await this.#unlock(userId, holder);
      else this.#forget(userId, holder);
      if (error instanceof MaildropInUseError || isAbortError(error)) throw error;
      if (error instanceof BackendError) throw error;
      throw backendError("opening the maildrop failed", error);
    }
  }

  /**
   * Takes the advisory lock on the lock connection, or throws `MaildropInUseError`. A lock
   * connection that turns out to be dead (it died while idle and we have not heard yet) is
   * replaced once: it held nothing of this session yet, so a retry is safe.
   */
  async #takeLock(holder: LockHolder, userId: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const backend = await this.#lockBackend();
      holder.backend = backend;
      let locked: boolean;
      try {
        const { rows } = await lockQuery<{ locked: boolean }>(
          backend,
          "SELECT pg_try_advisory_lock(hashtext($1), $2) AS locked",
          [this.#lockNamespace, userId],
        );
        locked = rows[0]?.locked === true;
      } catch (error) {
        this.#lockLost(backend, error);
        if (attempt < 2 && this.#closing === undefined) continue;
        throw backendError("the lock connection failed", error);
      }
      if (!locked) throw new MaildropInUseError();
      return;
    }
  }

  /** Removes a holder that never got its lock (only if it is still the user's entry). */
  #forget(userId: number, holder: LockHolder): void {
    if (this.#held.get(userId) === holder) this.#held.delete(userId);
  }

  /**
   * Gives a session's lock back. Only a holder whose backend is the live lock connection holds
   * anything: a lost backend's locks ended with it, and unlocking on its successor could free a
   * newer session's lock of the same user.
   */
  async #unlock(userId: number, holder: LockHolder): Promise<void> {
    const backend = holder.backend;
    if (backend !== undefined && !backend.lost && this.#held.get(userId) === holder) {
      try {
        const { rows } = await lockQuery<{ unlocked: boolean }>(
          backend,
          "SELECT pg_advisory_unlock(hashtext($1), $2) AS unlocked",
          [this.#lockNamespace, userId],
        );
        if (rows[0]?.unlocked !== true) {
          this.#logger.warn({ userId }, "postgres: a maildrop lock to release was not held");
        }
      } catch (error) {
        // Ending the lock connection ends its locks too: nothing stays locked by mistake.
        this.#lockLost(backend, error);
      }
    }
    this.#forget(userId, holder);
  }

  /** The live lock connection, opened on first use and after one was lost. */
  #lockBackend(): Promise<LockBackend> {
    if (this.#closing !== undefined) return Promise.reject(closedStoreError());
    if (this.#lock !== undefined && !this.#lock.lost) return Promise.resolve(this.#lock);
    if (this.#lockConnecting === undefined) {
      const attempt = this.#openLockBackend();
      this.#lockConnecting = attempt;
      const done = (): void => {
        if (this.#lockConnecting === attempt) this.#lockConnecting = undefined;
      };
      attempt.then(done, done);
    }
    return this.#lockConnecting;
  }

  async #openLockBackend(): Promise<LockBackend> {
    const client = new pg.Client(this.#lockConfig);
    // Until the backend is known, a failure is the connect's rejection; the listener only keeps
    // an 'error' event from ending the process.
    let backend: LockBackend | undefined;
    const onFailure = (error?: Error): void => {
      if (backend !== undefined) this.#lockLost(backend, error);
    };
    client.on("error", onFailure);
    client.on("end", () => onFailure(undefined));
    try {
      await client.connect();
      const { rows } = await client.query<{ pid: number; backend_start: string }>(
        `SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity
          WHERE pid = pg_backend_pid()`,
      );
      const row = rows[0];
      if (row === undefined) throw new Error("pg_stat_activity does not show our own backend");
      backend = {
        client,
        pid: row.pid,
        backendStart: row.backend_start,
        lost: false,
        tail: Promise.resolve(),
      };
    } catch (error) {
      await client.end().catch(() => {});
      throw backendError("no lock connection", error);
    }
    if (this.#closing !== undefined) {
      backend.lost = true;
      await client.end().catch(() => {});
      throw closedStoreError();
    }
    this.#lock = backend;
    return backend;
  }

  /**
   * The lock connection ended or failed: all its locks are gone in PostgreSQL, so every session
   * that took its lock there is lost (its reads and commit reject); new logins open a new one.
   */
  #lockLost(backend: LockBackend, error: unknown): void {
    if (backend.lost) return;
    backend.lost = true;
    if (this.#lock === backend) this.#lock = undefined;
    backend.client.end().catch(() => {});
    if (this.#closing !== undefined) return;
    let sessions = 0;
    for (const holder of this.#held.values()) if (holder.backend === backend) sessions++;
    this.#logger.warn(
      { pid: backend.pid, sessions, err: error instanceof Error ? error.message : undefined },
      "postgres: lock connection lost; its sessions can no longer commit",
    );
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
    try {
      return await this.#withLease(async (client) => {
        const { rows } = await client.query<{ uid: string; size: string }>(
          `SELECT m.uid, m.size FROM ${this.#schema}.messages m
             JOIN ${this.#schema}.users u ON u.id = m.user_id
            WHERE u.name = $1 ORDER BY m.id`,
          [user],
        );
        return rows.map((row) => ({ uid: row.uid, size: Number(row.size) }));
      });
    } catch (error) {
      throw backendError("listing the maildrop failed", error);
    }
  }

  /**
   * Ends the pool once the queries in flight are done, then the lock connection (which frees
   * any lock still held: a maildrop still open then can no longer commit). `server.close()` calls
   * it after its last session. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.pool.end();
      const backend = this.#lock ?? (await this.#lockConnecting?.catch(() => undefined));
      this.#lock = undefined;
      if (backend !== undefined && !backend.lost) {
        backend.lost = true;
        await backend.client.end().catch(() => {});
      }
    })();
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

  /**
   * Runs `use` on a pooled connection for as long as it takes, no longer. A connection that saw
   * an error is destroyed rather than pooled: it may be mid-transaction or dead.
   */
  async #withLease<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const lease = await this.#connect();
    try {
      return await use(lease.client);
    } catch (error) {
      lease.broken = true;
      throw error;
    } finally {
      lease.release();
    }
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

/**
 * Proves, inside the commit's transaction, that the lock connection's backend that took this
 * session's lock holds it still. The two-key advisory lock (int4, int4) shows in pg_locks as
 * classid = key 1 (as an oid), objid = key 2, objsubid = 2. The backend is named by pid and
 * backend_start, because after it ends its pid may be given to another backend.
 */
const LOCK_HELD = `SELECT
    EXISTS (
      SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid::int = hashtext($1) AND l.objid::bigint = $2 AND l.objsubid = 2
         AND l.pid = $3 AND a.backend_start = $4::timestamptz
    ) AS held,
    EXISTS (
      SELECT 1 FROM pg_stat_activity WHERE pid = $3 AND backend_start = $4::timestamptz
    ) AS alive`;

class PostgresMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #ctx: SessionContext;
  /** Chunk queries in flight; commit and release wait for them. */
  readonly #inflight = new Set<Promise<unknown>>();
  #open = true;
  #closing: Promise<void> | undefined;

  constructor(ctx: SessionContext) {
    this.#ctx = ctx;
    this.messages = Object.freeze(ctx.messages.map((m) => m.info));
  }

  /** Whether the lock connection that took this session's lock has ended since. */
  get #lockLost(): boolean {
    return this.#ctx.holder.backend?.lost !== false;
  }

  /** Errors (closed maildrop, bad index, abort) surface when the iteration starts. */
  read(index: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.#read(index, signal);
  }

  async *#read(index: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
    if (!this.#open) throw closedMaildropError();
    const row = Number.isInteger(index) ? this.#ctx.messages[index] : undefined;
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
    // A session without its lock serves nothing more: another session may own the maildrop.
    if (this.#lockLost) return Promise.reject(new MaildropLockLostError());
    const query = this.#ctx
      .withLease((client) =>
        client.query<{ bytes: Buffer }>(
          `SELECT bytes FROM ${this.#ctx.schema}.message_chunks WHERE message_id = $1 AND seq = $2`,
          [row.id, seq],
        ),
      )
      .then(
        (result) => {
          const bytes = result.rows[0]?.bytes;
          if (bytes === undefined) throw new Error(`chunk ${seq} of message ${row.id} is missing`);
          return bytes;
        },
        (error: unknown) => {
          throw error instanceof BackendError
            ? error
            : backendError("reading the message failed", error);
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
    const ctx = this.#ctx;
    try {
      await this.#settleReads();
      const wanted = new Set(deletedUids);
      const ids = ctx.messages.filter((m) => wanted.has(m.info.uid)).map((m) => m.id);
      if (ids.length === 0) return;
      const backend = ctx.holder.backend;
      // Known lost in this process: no need to ask the database.
      if (backend === undefined || backend.lost) throw new MaildropLockLostError();
      await ctx.withLease(async (client) => {
        await client.query("BEGIN");
        try {
          // Row lock first, then the proof: a session that takes the lock after the proof waits
          // on this row lock (openMaildrop) until we commit, so it never sees a half-way state.
          await client.query(`SELECT 1 FROM ${ctx.schema}.users WHERE id = $1 FOR NO KEY UPDATE`, [
            ctx.userId,
          ]);
          const proof = await client.query<{ held: boolean; alive: boolean }>(LOCK_HELD, [
            ctx.lockNamespace,
            ctx.userId,
            backend.pid,
            backend.backendStart,
          ]);
          const { held, alive } = proof.rows[0] ?? { held: false, alive: false };
          if (!held) {
            // The database knows before we do that the lock backend is gone (its end has not
            // reached us yet, or never will on a dead network): drop it now, so that no other
            // session waits on it and new logins open a new one.
            if (!alive) ctx.lockBackendGone(backend);
            throw new MaildropLockLostError();
          }
          await client.query(
            `DELETE FROM ${ctx.schema}.messages WHERE user_id = $1 AND id = ANY($2::bigint[])`,
            [ctx.userId, ids],
          );
          await client.query("COMMIT");
        } catch (error) {
          // If even ROLLBACK fails, the lease is destroyed, and PostgreSQL rolls back with it.
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
      });
    } catch (error) {
      ctx.logger.error(
        { user: ctx.user, err: error instanceof Error ? error.message : String(error) },
        "postgres: commit failed, nothing deleted",
      );
      if (error instanceof MaildropLockLostError) throw error;
      throw backendError("the deletions could not be committed", error);
    } finally {
      await ctx.unlock();
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
      await this.#ctx.unlock();
    })();
    await this.#closing;
  }

  async #settleReads(): Promise<void> {
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight]);
    }
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
