import pg from "pg";
import { OctetSizeCounter } from "pop3-core";
import {
  BackendError,
  InvalidUserError,
  type Logger,
  type Maildrop,
  MaildropInUseError,
  type MailStore,
  type MessageInfo,
  silentLogger,
} from "pop3-server";
import { backendError, closedStoreError, isAbortError } from "./errors";
import { type LockBackend, type LockHolder, lockQuery } from "./lock-backend";
import { type MessageRow, PostgresMaildrop, READ_BATCH_BYTES } from "./maildrop";
import { migrate, quoteIdentifier } from "./migrations";
import {
  type PostgresStoreOptions,
  type ResolvedPostgresStoreOptions,
  resolvePostgresStoreOptions,
} from "./options";
import { ReadAheadBudget } from "./read-ahead";

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

interface StoreInfo {
  readonly uidPrefix: string;
}

const encoder = new TextEncoder();

/** Names whose users.id a node remembers (a login then needs one round trip less). */
const USER_ID_CACHE_SIZE = 100_000;

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
  /** users.name → users.id, as far as this node has seen them (ids never change). */
  readonly #userIds = new Map<string, number>();
  readonly #readAhead: ReadAheadBudget;
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
    this.#lockConfig =
      options.lockConnectionString === undefined
        ? common
        : { ...common, connectionString: options.lockConnectionString };
    this.#readAhead = new ReadAheadBudget(options.readAheadBytes);
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
      // With a lock connection string of its own, open the lock connection at once: a wrong
      // one fails the start rather than every login.
      const attempt = this.#prepare().then(async (info) => {
        if (this.options.lockConnectionString !== undefined) await this.#lockBackend();
        return info;
      });
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
      userId = this.#userIds.get(user) ?? (await this.#withLease((c) => this.#userId(c, user)));
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
        // Both statements go in one round trip (a simple-protocol query, so userId, a number we
        // hold, is inlined). Each statement of it still takes its own snapshot (READ COMMITTED),
        // the second one after the first has waited.
        const results = (await client.query(
          `SELECT 1 FROM ${this.#schema}.users WHERE id = ${userId} FOR SHARE;
           SELECT id, uid, size, octets, chunk_count FROM ${this.#schema}.messages
            WHERE user_id = ${userId} ORDER BY id`,
        )) as unknown as pg.QueryResult[];
        if (results[0]?.rowCount !== 1) {
          // The user's row is gone (deleted by hand): forget its id; the next login makes a new one.
          this.#userIds.delete(user);
          throw new Error(`the users row of ${JSON.stringify(user)} is gone`);
        }
        const snapshot = results[1] as pg.QueryResult<{
          id: string;
          uid: string;
          size: string;
          octets: string;
          chunk_count: number;
        }>;
        return snapshot.rows.map(
          (row): MessageRow => ({
            id: row.id,
            info: Object.freeze({ uid: row.uid, size: Number(row.size) }),
            chunks: row.chunk_count,
            octets: Number(row.octets),
          }),
        );
      });
      return new PostgresMaildrop({
        schema: this.#schema,
        lockNamespace: this.#lockNamespace,
        userId,
        messages,
        chunksPerRead: Math.max(1, Math.floor(READ_BATCH_BYTES / this.options.chunkSize)),
        readAhead: this.#readAhead,
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
        // The statement failed but the connection lives (e.g. "out of shared memory": the lock
        // table is full): this login fails, the other sessions' locks stay.
        if (isStatementError(error)) throw backendError("taking the maildrop lock failed", error);
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
        // Ending the lock connection ends its locks too: nothing stays locked by mistake. (Not
        // for a statement error, which leaves the connection usable: then the lock may still be
        // held, and ending the connection would take every other session's lock with it.)
        if (isStatementError(error)) {
          this.#logger.error(
            { userId, err: (error as Error).message },
            "postgres: unlocking a maildrop failed",
          );
        } else {
          this.#lockLost(backend, error);
        }
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
      if (this.options.lockConnectionString !== undefined) await this.#checkSameDatabase(row);
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
   * With a lockConnectionString of its own, the lock connection must reach the database the pool
   * uses: commit looks for the lock in the pool's pg_locks, so a lock taken elsewhere could never
   * be proved (nothing would ever be deleted). The pool's backend must see the lock backend, by
   * pid and start time, in its own database.
   */
  async #checkSameDatabase(lock: { pid: number; backend_start: string }): Promise<void> {
    const { rows } = await this.#withLease((client) =>
      client.query<{ same: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                         WHERE pid = $1 AND backend_start = $2::timestamptz
                           AND datname = current_database()) AS same`,
        [lock.pid, lock.backend_start],
      ),
    );
    if (rows[0]?.same !== true) {
      throw new Error(
        "lockConnectionString does not reach the database and server of connectionString",
      );
    }
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
    const id = await this.#findOrCreateUser(client, user);
    // Bounded: the oldest entry goes first (a Map keeps insertion order).
    if (this.#userIds.size >= USER_ID_CACHE_SIZE) {
      this.#userIds.delete(this.#userIds.keys().next().value as string);
    }
    this.#userIds.set(user, id);
    return id;
  }

  async #findOrCreateUser(client: pg.PoolClient, user: string): Promise<number> {
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

/**
 * An ERROR from the server about one statement (it has a SQLSTATE and the connection goes on),
 * as opposed to the connection's end (FATAL, e.g. pg_terminate_backend, or a socket error).
 */
function isStatementError(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.severity === "ERROR";
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
