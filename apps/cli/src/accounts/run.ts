import type { FetchOptions } from "../commands/fetch";
import { credentials } from "../config";
import { type PollRecord, runDaemon } from "../daemon/loop";
import { MAX_BACKOFF_MS, type PollResult } from "../daemon/schedule";
import { EXIT, type ExitCode, toCliError } from "../errors";
import { runFetch } from "../fetch/run";
import { type StopSignals, stopOnSignals } from "../fetch/signals";
import type { Output } from "../output";
import type { Account } from "./account";

export interface RunOptions {
  readonly output: Output;
  readonly trace: boolean;
  /** Fetch flags of the command line that apply to every account (--all, --size-mismatch…). */
  readonly fetch: FetchOptions;
}

/** A poll's result, with what the fetch did when it ran. */
export interface AccountPoll extends PollResult {
  readonly stored?: number;
  readonly deleted?: number;
  /** A step of the fetch never returned (see runFetch): the process must end. */
  readonly unsettled?: boolean;
  /** The fetch ran and printed its own error, if any (else the caller reports `error`). */
  readonly ran?: boolean;
}

/**
 * One fetch of one account (runFetch), as the daemon and `fetch --config` need it: never throws,
 * tells the exit status, the error and the server's LOGIN-DELAY. `signal` asks the fetch to stop
 * after the current message.
 */
export async function fetchOnce(
  account: Account,
  signal: AbortSignal,
  options: RunOptions,
): Promise<AccountPoll> {
  let loginDelaySeconds: number | undefined;
  const delay = (): { loginDelaySeconds?: number } =>
    loginDelaySeconds === undefined ? {} : { loginDelaySeconds };
  try {
    const config = await account.withPassword(signal);
    const summary = await runFetch(
      {
        config: {
          ...config,
          onClient: (client) => {
            const announced = client.capabilityList.get("LOGIN-DELAY");
            if (announced !== undefined) loginDelaySeconds = announced.seconds;
          },
        },
        trace: options.trace,
      },
      { ...options.fetch, ...account.fetch },
      options.output,
      signal,
    );
    return {
      exitCode: summary.exitCode,
      ...(summary.error === undefined
        ? {}
        : {
            error: {
              message: summary.error.message,
              code: summary.error.code,
              cause: summary.error,
            },
          }),
      ...delay(),
      stored: summary.stored,
      deleted: summary.deleted,
      unsettled: summary.unsettled,
      ran: true,
    };
  } catch (error) {
    const problem = toCliError(error);
    // A refused login: run the password command again next time (the password may have changed).
    if (problem.exitCode === EXIT.AUTH) account.forgetPassword();
    return {
      exitCode: problem.exitCode,
      error: { message: problem.message, code: problem.code, cause: problem },
      ...delay(),
    };
  }
}

/**
 * `fetch --config`: each account in turn; one that fails does not stop the others. The exit
 * status is the first failing account's; the first Ctrl-C or SIGTERM stops after the current
 * message (exit 130), a second one at once.
 */
export async function fetchAccounts(
  accounts: readonly Account[],
  options: RunOptions,
): Promise<ExitCode> {
  const { output } = options;
  return withStopSignals(output, async (stop) => {
    let exitCode: ExitCode = EXIT.OK;
    for (const account of accounts) {
      if (stop.signal.aborted) return EXIT.INTERRUPTED;
      if (accounts.length > 1 && !output.json) output.note(`account ${account.name}:`);
      const result = await fetchOnce(account, stop.signal, options);
      if (result.ran !== true) reportAccountError(output, account.name, result);
      if (result.unsettled === true) stop.endSoon(0);
      if (result.exitCode === EXIT.INTERRUPTED) return EXIT.INTERRUPTED;
      if (exitCode === EXIT.OK) exitCode = result.exitCode;
    }
    return stop.signal.aborted ? EXIT.INTERRUPTED : exitCode;
  });
}

/**
 * `fetch --daemon`: polls every account every `intervalSeconds`, backing off after failures
 * (see daemon/schedule.ts), until SIGTERM or Ctrl-C (exit 0; during a poll the fetch first
 * finishes its current message); one log line (or NDJSON event) per poll. Passwords are settled
 * first (asked once on a terminal), so a poll never waits for a person.
 */
export async function runAccountsDaemon(
  accounts: readonly Account[],
  intervalSeconds: number,
  options: RunOptions,
): Promise<ExitCode> {
  const { output } = options;
  const ready: Account[] = [];
  for (const account of accounts) ready.push(await withSettledPassword(account, output));
  return withStopSignals(output, async (stop) => {
    output.note(
      `polling ${ready.map((a) => a.name).join(", ")} every ${intervalSeconds} s (stop with Ctrl-C or SIGTERM)`,
    );
    let unsettled = false;
    await runDaemon({
      accounts: ready,
      fetchOnce: async (account, signal) => {
        const result = await fetchOnce(account, signal, options);
        unsettled ||= result.unsettled === true;
        return result;
      },
      policy: { intervalMs: intervalSeconds * 1000, maxBackoffMs: MAX_BACKOFF_MS },
      stop: stop.signal,
      onPoll: (record) => logPoll(output, record),
    });
    const signal = stop.received ?? null;
    if (output.json) output.event({ event: "stopped", signal });
    else output.note(`stopped${signal === null ? "" : ` (${signal})`}`);
    // A fetch step that never returned keeps the event loop alive: end by the signal then.
    stop.endSoon(unsettled ? 0 : 1000);
    return EXIT.OK;
  });
}

/** The password known before polling starts: asked on a terminal once, else an error now. */
async function withSettledPassword(account: Account, output: Output): Promise<Account> {
  const config = await account.withPassword();
  if (config.password !== undefined) return account;
  const login = await credentials(config, output);
  const settled = { ...config, user: login.user, password: login.password };
  return { ...account, config: settled, withPassword: async () => settled };
}

/** One line per poll (failures as warnings), or one NDJSON `poll` event with --json. */
function logPoll(output: Output, record: PollRecord<AccountPoll>): void {
  const { result } = record;
  const nextPollSeconds =
    record.nextPollMs === undefined ? null : Math.round(record.nextPollMs / 100) / 10;
  if (output.json) {
    output.event({
      event: "poll",
      account: record.account,
      at: record.at.toISOString(),
      outcome: record.outcome,
      exitCode: result.exitCode,
      ...(result.stored === undefined ? {} : { stored: result.stored, deleted: result.deleted }),
      ...(result.error === undefined
        ? {}
        : { error: result.error.message, code: result.error.code }),
      ...(result.loginDelaySeconds === undefined
        ? {}
        : { loginDelaySeconds: result.loginDelaySeconds }),
      failures: record.failures,
      nextPollSeconds,
    });
    return;
  }
  const fine = record.outcome === "ok" || record.outcome === "partial";
  if (record.outcome === "ok" && output.quiet) return;
  const what =
    result.stored === undefined
      ? record.outcome
      : `${record.outcome}, ${result.stored} stored, ${result.deleted ?? 0} deleted`;
  const why = result.error === undefined ? "" : ` (${result.error.message})`;
  const next =
    nextPollSeconds === null
      ? "stopping"
      : `${record.failures > 0 ? `failure ${record.failures} in a row, ` : ""}next poll in ${nextPollSeconds} s`;
  const line = `${record.at.toISOString().replace(/\.\d+Z$/, "Z")} ${record.account}: ${what}${why}; ${next}`;
  if (fine) output.line(line);
  else output.warn(line);
}

function reportAccountError(output: Output, name: string, result: PollResult): void {
  const error = result.error;
  if (error === undefined) return;
  output.error(`${name}: ${error.message}`);
  if (output.json) {
    output.event({
      error: { code: error.code, message: error.message, exitCode: result.exitCode },
      account: name,
    });
  }
}

/** fetch's SIGINT/SIGTERM handling (first: stop after the current message; second: at once). */
async function withStopSignals(
  output: Output,
  body: (stop: StopSignals) => Promise<ExitCode>,
): Promise<ExitCode> {
  const stop = stopOnSignals((signal) =>
    output.note(`${signal}: stopping after the current message (again to stop at once)`),
  );
  try {
    return await body(stop);
  } finally {
    stop.dispose();
  }
}
