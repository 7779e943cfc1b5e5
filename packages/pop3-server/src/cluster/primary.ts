import cluster, { type Worker } from "node:cluster";
import { Pop3Error } from "pop3-core";
import { emptyStats, type ServerStats } from "../context";
import { ConfigError } from "../errors";
import { silentLogger } from "../logger";
import type { ServerAddresses } from "../server";
import { ENV_WORKERS, isClusterMessage, type WorkerMessage } from "./messages";
import type { ResolvedClusterOptions, ServeInWorkersOptions } from "./options";

/** A worker could not start (setup() threw, listen() failed, or it exited before listening). */
export class WorkerStartError extends Pop3Error {
  /** The worker's own error code, e.g. `EADDRINUSE`, when it reported one. */
  readonly workerCode: string | undefined;

  constructor(message: string, workerCode?: string) {
    super("POP3_WORKER_START", message);
    this.workerCode = workerCode;
  }
}

export interface ClusterWorker {
  /** The worker's place, 0 … workers-1; a restarted worker keeps its predecessor's. */
  readonly slot: number;
  readonly pid: number;
  /** How many times this slot's worker was restarted after a crash. */
  readonly restarts: number;
}

export interface ClusterStats {
  /** Every counter summed over the workers that answered. */
  readonly total: ServerStats;
  readonly workers: readonly (ClusterWorker & { readonly stats: ServerStats })[];
}

/** What serveInWorkers resolves to in the primary process. */
export interface ClusterHandle extends AsyncDisposable {
  readonly role: "primary";
  /** The addresses every worker listens on (shared sockets: one port for all). */
  readonly addresses: ServerAddresses;
  /** The workers running now. */
  readonly workers: readonly ClusterWorker[];
  /** Asks every running worker for `server.stats()` and sums them. */
  stats(): Promise<ClusterStats>;
  /** Closes every worker gracefully (each `server.close()`), kills any that overrun. */
  close(): Promise<void>;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  /** When the current worker became ready; 0 before. */
  readyAt: number;
  crashesInARow: number;
  restarts: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/** How long stats() waits for one worker; a worker that does not answer is left out. */
const STATS_TIMEOUT_MS = 5000;

export async function serveAsPrimary(
  options: ServeInWorkersOptions,
  resolved: ResolvedClusterOptions,
): Promise<ClusterHandle> {
  const logger = resolved.logger ?? silentLogger;
  if (options.exec !== undefined || options.args !== undefined) {
    cluster.setupPrimary({
      ...(options.exec === undefined ? {} : { exec: options.exec }),
      ...(options.args === undefined ? {} : { args: [...options.args] }),
    });
  }
  const slots: Slot[] = Array.from({ length: resolved.workers }, (_, index) => ({
    index,
    worker: undefined,
    ready: false,
    readyAt: 0,
    crashesInARow: 0,
    restarts: 0,
    restartTimer: undefined,
  }));
  let addresses: ServerAddresses | undefined;
  /** The longest close() any worker's server may take (its grace plus its close timeout). */
  let closeWithinMs = 0;
  let starting = true;
  let closing: Promise<void> | undefined;
  let settleStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const started = new Promise<void>((resolve, reject) => {
    settleStart = { resolve, reject };
  });

  function fork(slot: Slot): void {
    const worker = cluster.fork({ [ENV_WORKERS]: String(resolved.workers) });
    slot.worker = worker;
    slot.ready = false;
    slot.readyAt = 0;
    let failure: WorkerStartError | ConfigError | undefined;
    worker.on("error", (error) => logger.warn({ slot: slot.index, error }, "worker IPC error"));
    worker.on("message", (message: unknown) => {
      if (!isClusterMessage<WorkerMessage>(message)) return;
      if (message.pop3Cluster === "ready") {
        onReady(slot, worker, message.addresses, message.closeWithinMs);
      } else if (message.pop3Cluster === "failed") {
        failure =
          message.code === "POP3_CONFIG"
            ? new ConfigError(message.message)
            : new WorkerStartError(message.message, message.code);
        // The worker rethrows to its script; if the script catches and carries on, end it here.
        worker.process.kill("SIGTERM");
      }
    });
    worker.on("exit", (code, signal) => onExit(slot, worker, { code, signal }, failure));
  }

  function onReady(slot: Slot, worker: Worker, bound: ServerAddresses, closeMs: number): void {
    if (slot.worker !== worker) return;
    // With port 0, cluster gives every worker the port the first one got, as long as one of them
    // keeps it open; if all had died, a restarted worker gets a new port, and we say so.
    if (addresses !== undefined && !sameAddresses(addresses, bound))
      logger.warn({ before: addresses, now: bound }, "workers now listen on other ports");
    addresses = bound;
    closeWithinMs = Math.max(closeWithinMs, closeMs);
    slot.ready = true;
    slot.readyAt = Date.now();
    logger.info({ slot: slot.index, pid: worker.process.pid }, "worker listening");
    if (starting && slots.every((s) => s.ready)) {
      starting = false;
      settleStart?.resolve();
    }
  }

  function onExit(
    slot: Slot,
    worker: Worker,
    how: { code: number; signal: string },
    failure: Error | undefined,
  ): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    const fields = { slot: slot.index, pid: worker.process.pid, ...how };
    if (closing !== undefined) return;
    if (starting) {
      // A worker that cannot start will not start on a retry either (bad options, port taken):
      // report it to the caller instead of looping.
      settleStart?.reject(
        failure ?? new WorkerStartError(`worker ${slot.index} exited before it was listening`),
      );
      return;
    }
    // A worker that stayed up long enough starts the backoff over.
    if (slot.readyAt > 0 && Date.now() - slot.readyAt >= resolved.maxRestartDelayMs)
      slot.crashesInARow = 0;
    const delay = Math.min(
      resolved.maxRestartDelayMs,
      resolved.restartDelayMs * 2 ** slot.crashesInARow,
    );
    slot.crashesInARow += 1;
    logger.error(
      { ...fields, restartInMs: delay, ...(failure ? { error: failure.message } : {}) },
      "worker exited; restarting it",
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (closing !== undefined) return;
      slot.restarts += 1;
      fork(slot);
    }, delay);
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      removeSignalHandlers();
      for (const slot of slots) clearTimeout(slot.restartTimer);
      const live = slots.flatMap((slot) =>
        slot.worker === undefined ? [] : [{ worker: slot.worker, ready: slot.ready }],
      );
      const exits = live.map(({ worker }) => exited(worker));
      for (const { worker, ready } of live) {
        // A listening worker closes its server (bounded grace); one still starting has nothing
        // to finish.
        if (ready && worker.isConnected()) worker.send({ pop3Cluster: "close" }, () => {});
        else worker.process.kill("SIGTERM");
      }
      const killer = setTimeout(() => {
        for (const { worker } of live) {
          if (worker.isDead()) continue;
          logger.warn({ pid: worker.process.pid }, "worker did not close in time: killed");
          worker.process.kill("SIGKILL");
        }
      }, closeWithinMs + resolved.killMarginMs);
      await Promise.all(exits);
      clearTimeout(killer);
      logger.info({}, "all workers closed");
    })();
    return closing;
  }

  function onSignal(signal: NodeJS.Signals): void {
    if (closing !== undefined) {
      logger.warn({ signal }, "second signal: killing the workers");
      for (const slot of slots) slot.worker?.process.kill("SIGKILL");
      process.exit(1);
    }
    logger.info({ signal }, "shutting down the workers");
    void close().then(() => process.exit(0));
  }
  const onSigint = (): void => onSignal("SIGINT");
  const onSigterm = (): void => onSignal("SIGTERM");
  function removeSignalHandlers(): void {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
  }

  for (const slot of slots) fork(slot);
  try {
    await started;
  } catch (error) {
    await close();
    throw error;
  }
  if (resolved.handleSignals) {
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
  }
  const running = (): ClusterWorker[] =>
    slots.flatMap((slot) =>
      slot.worker?.process.pid === undefined || !slot.ready
        ? []
        : [{ slot: slot.index, pid: slot.worker.process.pid, restarts: slot.restarts }],
    );
  let request = 0;
  return {
    role: "primary",
    get addresses() {
      return addresses ?? {};
    },
    get workers() {
      return running();
    },
    async stats() {
      request += 1;
      const answers = await Promise.all(
        slots.map(async (slot) => {
          const worker = slot.worker;
          if (worker === undefined || !slot.ready) return undefined;
          const stats = await askStats(worker, request);
          const pid = worker.process.pid ?? 0;
          return stats === undefined
            ? undefined
            : { slot: slot.index, pid, restarts: slot.restarts, stats };
        }),
      );
      const workers = answers.filter((answer) => answer !== undefined);
      const total = emptyStats();
      for (const { stats } of workers)
        for (const key of Object.keys(total) as (keyof ServerStats)[]) total[key] += stats[key];
      return { total, workers };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function exited(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (worker.isDead()) resolve();
    else worker.once("exit", () => resolve());
  });
}

/** One worker's counters, or undefined if it exits or does not answer in time. */
function askStats(worker: Worker, request: number): Promise<ServerStats | undefined> {
  return new Promise((resolve) => {
    const done = (stats: ServerStats | undefined): void => {
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("exit", onExit);
      resolve(stats);
    };
    const onMessage = (message: unknown): void => {
      if (
        isClusterMessage<WorkerMessage>(message) &&
        message.pop3Cluster === "stats" &&
        message.request === request
      )
        done(message.stats);
    };
    const onExit = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), STATS_TIMEOUT_MS);
    worker.on("message", onMessage);
    worker.once("exit", onExit);
    if (!worker.isConnected()) return done(undefined);
    worker.send({ pop3Cluster: "stats", request }, (error: Error | null) => {
      if (error !== null) done(undefined);
    });
  });
}

function sameAddresses(a: ServerAddresses, b: ServerAddresses): boolean {
  return a.plain?.port === b.plain?.port && a.implicitTls?.port === b.implicitTls?.port;
}
