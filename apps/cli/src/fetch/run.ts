import { CliError, EXIT } from "../errors";
import type { Output } from "../output";
import { fetchMessages } from "./messages";
import {
  checkFetchOptions,
  DEFAULT_STOP_GRACE_MS,
  type FetchAccount,
  type FetchOptions,
} from "./options";
import { connect, planRun, prepare } from "./prepare";
import { quit } from "./quit";
import { type FetchRun, newRun } from "./run-state";
import { watchStop } from "./stop";
import { type FetchSummary, report, summarize } from "./summary";

/**
 * One fetch from one account into one destination: plan → run → summarize.
 *
 * Resolves with the summary once the run has ended (and has reported its `done` event and, on
 * a terminal, its summary line). Rejects with a `CliError` when it could not start: bad options
 * (exit 1), the destination, lock or state (7), connecting (2), the login (3; `cause` is
 * pop3-client's error, whose `responseCode` may be LOGIN-DELAY or IN-USE), no UIDL (4).
 *
 * `signal` asks the run to stop: no new message is started, the current one may finish within
 * `options.stopGraceMs` (5 s), then QUIT; past that the connection is closed without QUIT. It
 * always resolves within about that grace + 1 s of the signal, even when a file-system call
 * never returns (then `summary.unsettled`). Nothing of a run is kept at module level: it can be
 * called again and again in one process (a `--daemon` loop, several accounts).
 */
export async function runFetch(
  account: FetchAccount,
  options: FetchOptions,
  output: Output,
  signal?: AbortSignal,
): Promise<FetchSummary> {
  checkFetchOptions(options);
  const { config } = account;
  const user = config.user;
  if (user === undefined) {
    throw new CliError(
      EXIT.USAGE,
      "no user given: use pop3://user@host, --user, POP3_USER or a login in ~/.netrc",
    );
  }
  const run = newRun(
    { config: { ...config, user }, trace: account.trace === true },
    options,
    output,
  );
  const body = execute(run);
  // Observed below; after a cut it may settle (or fail) long after runFetch returned.
  body.catch(() => {});
  const stop = watchStop(run, signal, options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
  try {
    await Promise.race([body, stop.unwound]);
  } catch (error) {
    // Failing because the run was cut is the interruption, not an error of its own.
    if (!run.cut.signal.aborted) throw error;
  } finally {
    stop.dispose();
  }
  const summary = summarize(run);
  report(run, summary);
  return summary;
}

async function execute(run: FetchRun): Promise<void> {
  try {
    await prepare(run);
    await connect(run);
    const plan = await planRun(run);
    run.phase = "messages";
    await fetchMessages(run, plan);
    run.phase = "quit";
    await quit(run);
  } finally {
    run.phase = "done";
    run.client?.close();
    await run.state?.close().catch(() => {});
    await run.destination?.close().catch(() => {});
    await run.lock?.release();
    run.settled = true;
  }
}
