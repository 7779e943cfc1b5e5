import { availableParallelism } from "node:os";
import { ConfigError } from "../errors";
import type { Logger } from "../logger";
import type { Pop3Server } from "../server";

export interface ServeInWorkersOptions {
  /** How many worker processes; `"auto"` is `os.availableParallelism()`. */
  readonly workers: number | "auto";
  /**
   * Runs in each worker (never in the primary): builds the server with its own store. The
   * helper calls `listen()` on it; every worker binds the same ports, which cluster shares.
   */
  readonly setup: () => Pop3Server | Promise<Pop3Server>;
  /** The worker script; by default the script being run (`process.argv[1]`), run again. */
  readonly exec?: string;
  /** Arguments of the worker script; by default the primary's (`process.argv.slice(2)`). */
  readonly args?: readonly string[];
  /** Where the primary reports workers starting, crashing and being restarted. */
  readonly logger?: Logger;
  /**
   * In the primary, SIGTERM and SIGINT call close() and then exit the process (a second signal
   * exits at once). Default true. With false, call close() yourself.
   */
  readonly handleSignals?: boolean;
  /** First delay before a crashed worker is restarted; doubled on each crash in a row. Default 100. */
  readonly restartDelayMs?: number;
  /** The longest restart delay; a worker that stayed up this long resets it. Default 10 000. */
  readonly maxRestartDelayMs?: number;
  /** Added to the server's own bound on close() before a worker is killed. Default 2000. */
  readonly killMarginMs?: number;
}

export interface ResolvedClusterOptions {
  readonly workers: number;
  readonly logger: Logger | undefined;
  readonly handleSignals: boolean;
  readonly restartDelayMs: number;
  readonly maxRestartDelayMs: number;
  readonly killMarginMs: number;
}

export function resolveClusterOptions(options: ServeInWorkersOptions): ResolvedClusterOptions {
  const problems: string[] = [];
  const workers = options.workers === "auto" ? availableParallelism() : options.workers;
  if (!Number.isInteger(workers) || workers < 1)
    problems.push(`- workers: a positive integer or "auto", not ${String(options.workers)}`);
  if (typeof options.setup !== "function")
    problems.push("- setup: a function that returns the server");
  const delays = {
    restartDelayMs: options.restartDelayMs ?? 100,
    maxRestartDelayMs: options.maxRestartDelayMs ?? 10_000,
    killMarginMs: options.killMarginMs ?? 2000,
  };
  for (const [name, value] of Object.entries(delays))
    if (!Number.isFinite(value) || value < 0)
      problems.push(`- ${name}: a non-negative number of milliseconds`);
  if (problems.length > 0)
    throw new ConfigError(`invalid serveInWorkers options:\n${problems.join("\n")}`);
  return {
    workers,
    logger: options.logger,
    handleSignals: options.handleSignals ?? true,
    ...delays,
  };
}
