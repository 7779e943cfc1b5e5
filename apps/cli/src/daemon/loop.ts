import { classify, nextPoll, type Outcome, type PollResult, type SchedulePolicy } from "./schedule";

/** What the loop reports after each poll: one log line (or NDJSON event). */
export interface PollRecord<R extends PollResult = PollResult> {
  readonly account: string;
  readonly at: Date;
  readonly outcome: Outcome;
  readonly result: R;
  /** Failures in a row, this one included (0 after a success). */
  readonly failures: number;
  /** Undefined when the loop stops after this poll. */
  readonly nextPollMs: number | undefined;
}

export interface DaemonOptions<A extends { readonly name: string }, R extends PollResult> {
  readonly accounts: readonly A[];
  /** One fetch of one account; never throws (a failure is a PollResult). */
  readonly fetchOnce: (account: A, signal: AbortSignal) => Promise<R>;
  readonly policy: SchedulePolicy;
  /** SIGTERM / SIGINT: stop between polls at once, or after the poll that is running. */
  readonly stop: AbortSignal;
  readonly onPoll: (record: PollRecord<R>) => void;
  /** For tests; defaults to the clock. */
  readonly now?: () => number;
}

/**
 * Polls every account, each on its own schedule (see `nextPoll`), one at a time, until `stop`
 * aborts or a poll is interrupted. All accounts are polled once at the start.
 */
export async function runDaemon<A extends { readonly name: string }, R extends PollResult>(
  options: DaemonOptions<A, R>,
): Promise<void> {
  const now = options.now ?? Date.now;
  const state = options.accounts.map((account) => ({ account, due: now(), failures: 0 }));
  while (!options.stop.aborted && state.length > 0) {
    const next = state.reduce((a, b) => (b.due < a.due ? b : a));
    await sleep(next.due - now(), options.stop);
    if (options.stop.aborted) break;
    const result = await options.fetchOnce(next.account, options.stop);
    const outcome = classify(result);
    const schedule = nextPoll(next.failures, outcome, options.policy, result.loginDelaySeconds);
    const stopping = options.stop.aborted || outcome === "interrupted";
    next.failures = schedule.failures;
    next.due = now() + schedule.delayMs;
    options.onPoll({
      account: next.account.name,
      at: new Date(),
      outcome,
      result,
      failures: schedule.failures,
      nextPollMs: stopping ? undefined : schedule.delayMs,
    });
    if (stopping) break;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
