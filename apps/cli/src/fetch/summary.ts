import { type CliError, EXIT, type ExitCode } from "../errors";
import { formatBytes } from "../output";
import type { FetchRun } from "./run-state";

/** What one run did: the `done` event's fields, and more for a caller that runs many. */
export interface FetchSummary {
  /** `user@host`. */
  readonly account: string;
  /** The Maildir or mbox path, or the MDA command. */
  readonly destination: string;
  readonly onServer: number;
  readonly stored: number;
  readonly octets: number;
  readonly failed: number;
  readonly skipped: number;
  /** Deleted from the server (committed by QUIT). */
  readonly deleted: number;
  /** QUIT's verdict on deletions; null when none were asked for. */
  readonly committed: boolean | null;
  /** Stopped by the caller's signal. */
  readonly interrupted: boolean;
  /** The stop could not wait for the current message: the connection was closed without QUIT. */
  readonly forced: boolean;
  /**
   * A step of the run had not returned when runFetch did (a file-system call that never
   * returns). The run keeps its lock until it does; a CLI process should end now.
   */
  readonly unsettled: boolean;
  readonly exitCode: ExitCode;
  /** Why the run stopped early (connection lost, local write failed), if it did. */
  readonly error?: CliError;
}

/** The summary of a run that has ended (or was given up on). */
export function summarize(run: FetchRun): FetchSummary {
  const { tally } = run;
  const interrupted = run.stopRequested || run.cut.signal.aborted;
  const error = run.localFailure ?? run.broken;
  const exitCode: ExitCode = run.localFailure
    ? EXIT.LOCAL_IO
    : interrupted
      ? EXIT.INTERRUPTED
      : tally.failed > 0 || run.broken !== undefined || run.committed === false
        ? EXIT.PARTIAL
        : EXIT.OK;
  return {
    account: run.account,
    destination: run.location.target,
    onServer: tally.onServer,
    stored: tally.stored,
    octets: tally.octets,
    failed: tally.failed,
    skipped: tally.skipped,
    deleted: run.committed === true ? tally.marked : 0,
    committed: run.committed,
    interrupted,
    forced: run.cut.signal.aborted,
    unsettled: !run.settled,
    exitCode,
    ...(error === undefined ? {} : { error }),
  };
}

/** The `done` event, then (without --json) the error and the one-line summary. */
export function report(run: FetchRun, summary: FetchSummary): void {
  const { output, reporter } = run;
  reporter.emit({
    event: "done",
    stored: summary.stored,
    octets: summary.octets,
    failed: summary.failed,
    skipped: summary.skipped,
    deleted: summary.deleted,
    committed: summary.committed,
    interrupted: summary.interrupted,
    forced: summary.forced,
    exitCode: summary.exitCode,
    // The reason for a non-zero exit that no "failed" event gave (--json shows no stderr text).
    ...(summary.error === undefined
      ? {}
      : { error: summary.error.message, code: summary.error.code }),
  });
  reporter.stop();
  if (output.json) return;
  if (summary.error !== undefined) output.error(summary.error.message);
  if (summary.forced) {
    output.error(
      "stopped without waiting any longer: the connection was closed without (waiting for) QUIT, so what this run marked for deletion stays on the server until the next run",
    );
  }
  if (reporter.quiet) return;
  const where = run.location.kind === "mda" ? "delivered to the MDA" : `in ${summary.destination}`;
  const parts = [
    `stored ${summary.stored} message${summary.stored === 1 ? "" : "s"} (${formatBytes(summary.octets)}) ${where}`,
  ];
  if (summary.skipped > 0) parts.push(`${summary.skipped} skipped`);
  if (summary.failed > 0) parts.push(`${summary.failed} failed`);
  if (summary.committed === true) parts.push(`${summary.deleted} deleted from the server`);
  output.line(parts.join(", "));
}
