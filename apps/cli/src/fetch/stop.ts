import type { FetchRun } from "./run-state";
import { interruptedError } from "./run-state";

/** After a cut, how long the run's steps get to close what they hold before runFetch returns. */
export const UNWIND_MS = 1000;

/**
 * Turns a stop request (`signal` aborted) into the run's behaviour:
 * - while setting up (local files, connecting, logging in, LIST/UIDL): cut at once, there is no
 *   message to finish;
 * - later: no new message is started; the current one (and QUIT) may take `graceMs`, then the
 *   run is cut: the connection is closed without QUIT, so the server deletes nothing this time.
 * `unwound` resolves `UNWIND_MS` after a cut, so runFetch returns even when a step is stuck in a
 * call that never returns (a hung file system).
 */
export function watchStop(
  run: FetchRun,
  signal: AbortSignal | undefined,
  graceMs: number,
): { unwound: Promise<void>; dispose(): void } {
  let grace: NodeJS.Timeout | undefined;
  let unwind: NodeJS.Timeout | undefined;
  let unwound!: () => void;
  const promise = new Promise<void>((resolve) => {
    unwound = resolve;
  });
  const cut = (): void => {
    if (run.cut.signal.aborted || run.phase === "done") return;
    run.cut.abort(interruptedError());
    run.client?.close();
    unwind = setTimeout(unwound, UNWIND_MS);
  };
  const onStop = (): void => {
    run.stopRequested = true;
    if (run.phase === "setup") cut();
    else grace = setTimeout(cut, graceMs);
  };
  if (signal?.aborted) onStop();
  else signal?.addEventListener("abort", onStop, { once: true });
  return {
    unwound: promise,
    dispose: () => {
      clearTimeout(grace);
      clearTimeout(unwind);
      signal?.removeEventListener("abort", onStop);
    },
  };
}
