import type pg from "pg";

/**
 * One backend of the node's lock connection. Its session-level advisory locks are the maildrop
 * locks of every session of this node; `pid` and `backendStart` name it for the check in
 * `commit` (a pid alone could be reused by a later backend).
 */
export interface LockBackend {
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
export function lockQuery<R extends pg.QueryResultRow>(
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
export interface LockHolder {
  backend: LockBackend | undefined;
}
