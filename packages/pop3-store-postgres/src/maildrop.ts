import type pg from "pg";
import {
  BackendError,
  type Logger,
  MAX_READ_CHUNK,
  type Maildrop,
  type MessageInfo,
} from "pop3-server";
import { ByteaCopy, type Pieces } from "./copy-out";
import { backendError, closedMaildropError, MaildropLockLostError } from "./errors";
import type { LockBackend, LockHolder } from "./lock-backend";
import { READ_AHEAD_IDLE_MS, type ReadAheadBudget } from "./read-ahead";

/** A message of the session's snapshot. */
export interface MessageRow {
  readonly id: string;
  readonly info: MessageInfo;
  readonly chunks: number;
  /** Raw stored octets. */
  readonly octets: number;
}

/** What a maildrop needs from its store. */
export interface SessionContext {
  readonly schema: string;
  readonly lockNamespace: string;
  readonly userId: number;
  readonly user: string;
  readonly messages: readonly MessageRow[];
  /** Chunks a RETR reads per query. */
  readonly chunksPerRead: number;
  /** The node's bound on bytes read ahead (shared by its sessions). */
  readonly readAhead: ReadAheadBudget;
  readonly logger: Logger;
  readonly holder: LockHolder;
  /** Runs `use` on a pooled connection, returned (or destroyed, after an error) when it settles. */
  withLease<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Gives the lock back on the lock connection and forgets it; never rejects. */
  unlock(): Promise<void>;
  /** The database says this lock backend has ended. */
  lockBackendGone(backend: LockBackend): void;
}

/**
 * Bytes a RETR asks for per query (whole chunks, at least one): large enough that the query's
 * round trip is small beside the transfer, small enough that a RETR holds little memory (this
 * batch and the one read ahead) and a pool connection only briefly.
 */
export const READ_BATCH_BYTES = 1024 * 1024;

/**
 * Batches of a large message in flight at once (each on a pool connection of its own), so that
 * the database's work (reading TOAST, decompressing) for the next ones overlaps: at most this
 * many times READ_BATCH_BYTES of memory per RETR.
 */
const READ_AHEAD_BATCHES = 2;

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

/** A session's maildrop: the snapshot taken at login, reads in chunks, the UPDATE. */
export class PostgresMaildrop implements Maildrop {
  readonly messages: readonly MessageInfo[];
  readonly #ctx: SessionContext;
  /** Chunk queries in flight; commit and release wait for them. */
  readonly #inflight = new Set<Promise<unknown>>();
  /** Messages read ahead, by index: each is served once, then forgotten. */
  readonly #ahead = new Map<number, Pieces[]>();
  /** Bytes of #ahead, reserved in the node's budget. */
  #aheadBytes = 0;
  #aheadTimer: ReturnType<typeof setTimeout> | undefined;
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
    const perBatch = this.#ctx.chunksPerRead;
    if (row.chunks <= perBatch) {
      // A small message: read ahead already, or fetched now with the small ones after it.
      const chunks = this.#takeAhead(index) ?? (await this.#smallMessages(index));
      yield* inReadSizes(chunks, signal);
      signal?.throwIfAborted();
      return;
    }
    // A large one: a batch of chunks per query (about READ_BATCH_BYTES), the next batch read
    // ahead while this one is being sent; the pool connection is given back between batches,
    // so a slow client never holds one.
    // READ_AHEAD_BATCHES batches are asked for at once, on as many pool connections: the
    // database decompresses and sends each in a backend of its own, in parallel.
    const queued: Promise<Pieces[]>[] = [];
    let requested = 0;
    const fill = (): void => {
      while (queued.length < READ_AHEAD_BATCHES && requested < row.chunks) {
        const from = requested;
        requested = Math.min(row.chunks, from + perBatch);
        const query = this.#chunks(row, from, requested);
        query.catch(() => {}); // awaited below, or dropped in `finally`
        queued.push(query);
      }
    };
    try {
      fill();
      while (queued.length > 0) {
        const chunks = await (queued.shift() as Promise<Pieces[]>);
        fill();
        yield* inReadSizes(chunks, signal);
      }
      signal?.throwIfAborted();
    } finally {
      await Promise.allSettled(queued);
    }
  }

  /** Chunks `from` to `to - 1` of a message, in one binary COPY on a pooled connection. */
  #chunks(row: MessageRow, from: number, to: number): Promise<Pieces[]> {
    return this.#copy(
      `message_id = ${checkedId(row.id)} AND seq >= ${from} AND seq < ${to}`,
      to - from,
    );
  }

  /**
   * The small message at `index`, fetched in one query with the small messages after it, up to
   * READ_BATCH_BYTES in all and as far as the node's read-ahead budget allows; those are kept
   * for the RETRs that follow.
   */
  async #smallMessages(index: number): Promise<Pieces[]> {
    const messages = this.#ctx.messages;
    const group = [index];
    let total = (messages[index] as MessageRow).octets;
    let reserved = 0;
    for (let j = index + 1; j < messages.length && !this.#ahead.has(j); j++) {
      const next = messages[j] as MessageRow;
      if (next.chunks > this.#ctx.chunksPerRead || total + next.octets > READ_BATCH_BYTES) break;
      if (!this.#ctx.readAhead.take(next.octets)) break;
      group.push(j);
      total += next.octets;
      reserved += next.octets;
    }
    const rows = group.map((j) => messages[j] as MessageRow);
    let chunks: Pieces[];
    try {
      chunks = await this.#copy(
        `message_id IN (${rows.map((row) => checkedId(row.id)).join(", ")})`,
        rows.reduce((n, row) => n + row.chunks, 0),
      );
    } catch (error) {
      this.#ctx.readAhead.give(reserved);
      throw error;
    }
    // Ids grow with the index (the snapshot is ordered by id), and so does the COPY's order.
    let at = 0;
    const [own, ...rest] = rows.map((row) => {
      at += row.chunks;
      return chunks.slice(at - row.chunks, at);
    });
    if (!this.#open) {
      // Committed or released meanwhile: keep nothing.
      this.#ctx.readAhead.give(reserved);
    } else {
      for (const [k, message] of rest.entries()) this.#ahead.set(group[k + 1] as number, message);
      this.#aheadBytes += reserved;
      this.#touchAhead();
    }
    return own as Pieces[];
  }

  /** The read-ahead of message `index`, taken out (served once); undefined if there is none. */
  #takeAhead(index: number): Pieces[] | undefined {
    const chunks = this.#ahead.get(index);
    if (chunks === undefined) return undefined;
    // Like every read: a session that lost its lock serves nothing more.
    if (this.#lockLost) {
      this.#dropAhead();
      throw new MaildropLockLostError();
    }
    this.#ahead.delete(index);
    const bytes = (this.#ctx.messages[index] as MessageRow).octets;
    this.#aheadBytes -= bytes;
    this.#ctx.readAhead.give(bytes);
    this.#touchAhead();
    return chunks;
  }

  /** (Re)starts the clock after which unread read-ahead is dropped. */
  #touchAhead(): void {
    if (this.#ahead.size === 0) {
      clearTimeout(this.#aheadTimer);
      this.#aheadTimer = undefined;
      return;
    }
    if (this.#aheadTimer === undefined) {
      this.#aheadTimer = setTimeout(() => this.#dropAhead(), READ_AHEAD_IDLE_MS);
      this.#aheadTimer.unref?.();
    } else {
      this.#aheadTimer.refresh();
    }
  }

  #dropAhead(): void {
    clearTimeout(this.#aheadTimer);
    this.#aheadTimer = undefined;
    this.#ahead.clear();
    this.#ctx.readAhead.give(this.#aheadBytes);
    this.#aheadBytes = 0;
  }

  /**
   * The chunks `where` selects, ordered by message and seq, in one binary COPY on a pooled
   * connection; exactly `expected` of them or it fails.
   */
  #copy(where: string, expected: number): Promise<Pieces[]> {
    if (!this.#open) return Promise.reject(closedMaildropError());
    // A session without its lock serves nothing more: another session may own the maildrop.
    if (this.#lockLost) return Promise.reject(new MaildropLockLostError());
    const copy = `COPY (SELECT bytes FROM ${this.#ctx.schema}.message_chunks WHERE ${where}
                        ORDER BY message_id, seq) TO STDOUT (FORMAT binary)`;
    const query = this.#ctx
      .withLease((client) => client.query(new ByteaCopy(copy)).result)
      .then(
        (chunks) => {
          if (chunks.length !== expected) {
            throw new Error(`${chunks.length} chunks where ${expected} were expected (${where})`);
          }
          return chunks;
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
      this.#dropAhead();
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
      this.#dropAhead();
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

/**
 * A message id for a COPY, which takes no parameters: it came from a bigint column, and is
 * checked again to be only digits before it is inlined.
 */
function checkedId(id: string): string {
  if (!/^[0-9]{1,19}$/.test(id)) throw new Error(`bad message id ${id}`);
  return id;
}

/** The chunks' bytes in pieces of at most MAX_READ_CHUNK, as a store's read gives them. */
function* inReadSizes(chunks: readonly Pieces[], signal: AbortSignal | undefined) {
  for (const pieces of chunks) {
    for (const piece of pieces) {
      for (let start = 0; start < piece.length; start += MAX_READ_CHUNK) {
        signal?.throwIfAborted();
        yield piece.subarray(start, Math.min(start + MAX_READ_CHUNK, piece.length));
      }
    }
  }
}
