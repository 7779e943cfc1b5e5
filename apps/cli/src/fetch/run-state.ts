import type { Pop3Client } from "pop3-client";
import type { ResolvedConfig } from "../config";
import { CliError, EXIT } from "../errors";
import type { Output } from "../output";
import type { Destination } from "./destination";
import type { Lock } from "./lock";
import {
  type DeletePolicy,
  deletePolicy,
  type FetchOptions,
  type Location,
  locate,
} from "./options";
import type { PlanItem } from "./plan";
import { FetchReporter } from "./progress";
import type { FetchState } from "./state";

/**
 * Everything one fetch run knows and holds, in one object: created by `runFetch`, passed to
 * each step (prepare → connect → plan → messages → quit → summarize), dropped at the end.
 * Nothing of a run lives at module level, so runs can follow each other (or run side by side
 * for different destinations) in one process.
 */
export interface FetchRun {
  /** `user@host`: what the state and the mbox markers are keyed by. */
  readonly account: string;
  readonly config: ResolvedConfig & { readonly user: string };
  readonly trace: boolean;
  readonly options: FetchOptions;
  readonly output: Output;
  readonly reporter: FetchReporter;
  readonly location: Location;
  readonly policy: DeletePolicy;
  /** Aborted when the run is cut short (a stop that could not wait): closes the connection. */
  readonly cut: AbortController;
  /** Where the run is; a stop request is handled per phase (see stop.ts). */
  phase: "setup" | "messages" | "quit" | "done";
  /** A stop was asked for: no new message is started. */
  stopRequested: boolean;
  lock: Lock | undefined;
  state: FetchState | undefined;
  destination: Destination | undefined;
  client: Pop3Client | undefined;
  /** The message being downloaded, for warnings the client reports. */
  current: PlanItem | undefined;
  readonly tally: Tally;
  /** QUIT's verdict on deletions: true, false, or null when none were asked for. */
  committed: boolean | null;
  /** The connection or the server failed: the run stopped. */
  broken: CliError | undefined;
  /** A local write failed: the run stopped. */
  localFailure: CliError | undefined;
  /** Every step has returned and everything is closed (false while a call never returns). */
  settled: boolean;
}

export interface Tally {
  onServer: number;
  alreadyStored: number;
  stored: number;
  octets: number;
  failed: number;
  skipped: number;
  /** Marked for deletion (DELE answered +OK). */
  marked: number;
}

/** A run that has not started yet. */
export function newRun(
  account: { config: FetchRun["config"]; trace: boolean },
  options: FetchOptions,
  output: Output,
): FetchRun {
  const name = `${account.config.user}@${account.config.host}`;
  return {
    account: name,
    config: account.config,
    trace: account.trace,
    options,
    output,
    reporter: new FetchReporter(
      output,
      options.quiet === true ? "quiet" : options.verbose === true ? "verbose" : "normal",
    ),
    location: locate(options, name),
    policy: deletePolicy(options),
    cut: new AbortController(),
    phase: "setup",
    stopRequested: false,
    lock: undefined,
    state: undefined,
    destination: undefined,
    client: undefined,
    current: undefined,
    tally: {
      onServer: 0,
      alreadyStored: 0,
      stored: 0,
      octets: 0,
      failed: 0,
      skipped: 0,
      marked: 0,
    },
    committed: null,
    broken: undefined,
    localFailure: undefined,
    settled: false,
  };
}

/** Throws once the run was cut: nothing new is started after that. */
export function checkNotCut(run: FetchRun): void {
  if (run.cut.signal.aborted) throw interruptedError();
}

export function interruptedError(): CliError {
  return new CliError(EXIT.INTERRUPTED, "interrupted", { code: "INTERRUPTED" });
}
