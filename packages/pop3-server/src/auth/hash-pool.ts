import { Worker } from "node:worker_threads";
import { BackendError, ConfigError } from "../errors";
import type { ScryptRequest } from "./password-hash";

/**
 * The password-hash queue is full, a queued hash waited too long, or the pool is closed. The
 * login is answered `-ERR [SYS/TEMP]` at once and counts as neither a failure nor a success.
 */
export class PasswordHashBusyError extends BackendError {
  readonly reason: "full" | "timeout" | "closed" | "cancelled";

  constructor(reason: PasswordHashBusyError["reason"]) {
    super("POP3_AUTH_BACKEND", `password hashing refused (${reason})`);
    this.name = "PasswordHashBusyError";
    this.reason = reason;
  }
}

/** Derives one scrypt key; the pool never runs more of these at once than its concurrency. */
export type ScryptDeriver = (request: ScryptRequest) => Promise<Uint8Array>;

export interface PasswordHashPoolOptions {
  /** Hashes run at once, each on its own worker thread. Default 2. */
  readonly concurrency?: number;
  /** Hashes that may wait for a thread; one more is refused at once. Default 32. */
  readonly maxQueue?: number;
  /** A hash that waited this long for a thread is refused instead of run. Default 10000. */
  readonly queueTimeoutMs?: number;
  /** Tests replace the worker threads with this; it must honour nothing but its request. */
  readonly derive?: ScryptDeriver;
}

export interface HashRunOptions {
  /**
   * `"high"` goes ahead of every `"low"` hash, and when the queue is full it takes the place of
   * the newest `"low"` one (which is refused). The server gives `"high"` to attempts from
   * addresses without recent failures, so a guesser's backlog cannot keep real users out.
   */
  readonly priority?: "high" | "low";
  /** Abort while waiting drops the hash from the queue (the client left). */
  readonly signal?: AbortSignal | undefined;
}

interface Job {
  readonly request: ScryptRequest;
  readonly resolve: (key: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Runs password hashes (scrypt) for logins with bounded concurrency and a bounded queue, on
 * dedicated worker threads.
 *
 * Why threads of our own: `crypto.scrypt` runs on libuv's thread pool (4 threads by default),
 * the same pool every `fs` call of the Maildir store uses, so a burst of logins queued file reads
 * of logged-in users behind 50 ms hashes (RETRs stalled for seconds). A worker calling
 * `scryptSync` keeps the hash on its own thread. Why bounded: an unbounded queue turns a password
 * flood into minutes of latency for everyone; past the bound a login gets `[SYS/TEMP]` at once.
 *
 * Workers start on first use, are unref'd while idle (they never keep a process alive) and end
 * with `close()`.
 */
export class PasswordHashPool {
  readonly #concurrency: number;
  readonly #maxQueue: number;
  readonly #queueTimeoutMs: number;
  readonly #derive: ScryptDeriver;
  readonly #workers: ScryptWorkers | undefined;
  readonly #high: Job[] = [];
  readonly #low: Job[] = [];
  #running = 0;
  #closed = false;

  constructor(options: PasswordHashPoolOptions = {}) {
    const concurrency = options.concurrency ?? 2;
    const maxQueue = options.maxQueue ?? 32;
    const queueTimeoutMs = options.queueTimeoutMs ?? 10_000;
    const problems: string[] = [];
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      problems.push("concurrency must be an integer >= 1");
    }
    if (!Number.isInteger(maxQueue) || maxQueue < 0) {
      problems.push("maxQueue must be an integer >= 0");
    }
    if (!Number.isFinite(queueTimeoutMs) || queueTimeoutMs < 1) {
      problems.push("queueTimeoutMs must be a finite number >= 1");
    }
    if (problems.length > 0) throw new ConfigError(`PasswordHashPool: ${problems.join("; ")}`);
    this.#concurrency = concurrency;
    this.#maxQueue = maxQueue;
    this.#queueTimeoutMs = queueTimeoutMs;
    if (options.derive === undefined) {
      const workers = new ScryptWorkers();
      this.#workers = workers;
      this.#derive = (request) => workers.derive(request);
    } else {
      this.#workers = undefined;
      this.#derive = options.derive;
    }
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Hashes waiting for a thread. */
  get queued(): number {
    return this.#high.length + this.#low.length;
  }

  /**
   * Derives the key, at once if a thread is free, else after waiting in the queue. Rejects with
   * `PasswordHashBusyError` when the queue is full, the wait times out, the signal aborts, or the
   * pool is closed; with `BackendError` when scrypt fails.
   */
  run(request: ScryptRequest, options: HashRunOptions = {}): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new PasswordHashBusyError("closed"));
    if (options.signal?.aborted === true) {
      return Promise.reject(new PasswordHashBusyError("cancelled"));
    }
    if (this.#running < this.#concurrency) return this.#start(request);
    const high = options.priority === "high";
    if (this.queued >= this.#maxQueue) {
      const evicted = high ? this.#low.pop() : undefined;
      if (evicted === undefined) return Promise.reject(new PasswordHashBusyError("full"));
      this.#settle(evicted).reject(new PasswordHashBusyError("full"));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const job: Job = {
        request,
        resolve,
        reject,
        signal: options.signal,
        timer: undefined,
        onAbort: undefined,
      };
      job.timer = setTimeout(() => {
        this.#remove(job);
        this.#settle(job).reject(new PasswordHashBusyError("timeout"));
      }, this.#queueTimeoutMs);
      job.timer.unref();
      if (job.signal !== undefined) {
        job.onAbort = () => {
          this.#remove(job);
          this.#settle(job).reject(new PasswordHashBusyError("cancelled"));
        };
        job.signal.addEventListener("abort", job.onAbort, { once: true });
      }
      (high ? this.#high : this.#low).push(job);
    });
  }

  /** Refuses every queued hash, lets running ones finish, and ends the worker threads. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#high.splice(0).concat(this.#low.splice(0))) {
      this.#settle(job).reject(new PasswordHashBusyError("closed"));
    }
    await this.#workers?.close();
  }

  async #start(request: ScryptRequest): Promise<Uint8Array> {
    this.#running += 1;
    try {
      return await this.#derive(request);
    } finally {
      this.#running -= 1;
      this.#next();
    }
  }

  #next(): void {
    if (this.#running >= this.#concurrency) return;
    const job = this.#high.shift() ?? this.#low.shift();
    if (job === undefined) return;
    const { resolve, reject } = this.#settle(job);
    this.#start(job.request).then(resolve, reject);
  }

  #remove(job: Job): void {
    for (const queue of [this.#high, this.#low]) {
      const index = queue.indexOf(job);
      if (index >= 0) queue.splice(index, 1);
    }
  }

  /** Clears the job's timer and abort listener; returns its callbacks. */
  #settle(job: Job): Pick<Job, "resolve" | "reject"> {
    clearTimeout(job.timer);
    if (job.onAbort !== undefined) job.signal?.removeEventListener("abort", job.onAbort);
    return job;
  }
}

/**
 * The worker's code, evaluated from this string (`eval: true`) so that there is no second file
 * to find from tsup's ESM and CJS bundles. `scryptSync` blocks the worker's own thread, not
 * libuv's pool. The password copy is zeroed once used. The key is copied back (32–64 bytes).
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", (request) => {
  const { password, salt, keyLength, N, r, p } = request;
  try {
    const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
    const key = scryptSync(password, salt, keyLength, { N, r, p, maxmem });
    parentPort.postMessage({ key: new Uint8Array(key) });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message) });
  } finally {
    password.fill(0);
  }
});
`;

interface Thread {
  readonly worker: Worker;
  /** The job it runs now. */
  job: { resolve: (key: Uint8Array) => void; reject: (error: unknown) => void } | undefined;
}

/**
 * One worker thread per concurrent hash, started when needed. The pool in front guarantees no
 * more concurrent `derive` calls than it has slots, so a thread never has two jobs.
 */
class ScryptWorkers {
  readonly #idle: Thread[] = [];
  readonly #all = new Set<Thread>();

  derive(request: ScryptRequest): Promise<Uint8Array> {
    const thread = this.#idle.pop() ?? this.#spawn();
    return new Promise<Uint8Array>((resolve, reject) => {
      thread.job = { resolve, reject };
      // Held while working: a login in progress keeps the process alive, an idle pool does not.
      thread.worker.ref();
      thread.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const threads = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  #spawn(): Thread {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: "pop3-scrypt" });
    worker.unref();
    const thread: Thread = { worker, job: undefined };
    this.#all.add(thread);
    worker.on("message", (message: { key?: Uint8Array; error?: string }) => {
      const job = thread.job;
      thread.job = undefined;
      worker.unref();
      if (this.#all.has(thread)) this.#idle.push(thread);
      if (message.key !== undefined) job?.resolve(message.key);
      else job?.reject(new BackendError("POP3_AUTH_BACKEND", "scrypt failed"));
    });
    // A thread that died (terminated, out of memory) is dropped; the next hash starts another.
    const lost = (cause?: unknown) => {
      this.#all.delete(thread);
      const index = this.#idle.indexOf(thread);
      if (index >= 0) this.#idle.splice(index, 1);
      const job = thread.job;
      thread.job = undefined;
      job?.reject(new BackendError("POP3_AUTH_BACKEND", "scrypt worker stopped", { cause }));
    };
    worker.on("error", lost);
    worker.on("exit", () => lost());
    return thread;
  }
}
