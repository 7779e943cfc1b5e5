/**
 * The node-wide bound on message bytes read ahead: a session that RETRs a small message gets
 * the next small messages of its maildrop in the same query (a typical client RETRs them all, in
 * order), kept until it asks for them. Every store has one budget, so however many sessions
 * read at once, read-ahead holds at most `limit` bytes; when it is spent, reads simply fetch
 * one message at a time.
 */
export class ReadAheadBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /** Reserves `bytes`, or says no if that would pass the limit. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/**
 * How long a session's read-ahead waits to be asked for before it is dropped (and its budget
 * given back): a client that stopped reading does not keep it.
 */
export const READ_AHEAD_IDLE_MS = 5000;
