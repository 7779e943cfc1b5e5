/**
 * SIGINT and SIGTERM for a process that fetches: the first one asks for a stop (the returned
 * `signal` aborts, and runFetch finishes the current message within its grace, then QUITs); a
 * second one ends the process at once.
 *
 * "At once" and "the process ends" are done by re-raising the signal with its default action,
 * not by process.exit(): Node's exit waits for its file-system threads, and a thread stuck in a
 * call that never returns (a hung network or FUSE mount) would keep the process alive for ever.
 * Ended by its signal, the process reports it the usual way (a shell shows 130 for SIGINT,
 * 143 for SIGTERM). Nothing is lost either way: a message is deleted only after it is stored,
 * and only by a QUIT, which a process ended this way never sends.
 */
export interface StopSignals {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** The signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /**
   * After the run: make sure the process ends soon even if something it started never returns
   * (the pending call keeps the event loop alive): re-raise the received signal after `afterMs`
   * unless the process has exited by itself. Does nothing when no signal was received.
   */
  endSoon(afterMs?: number): void;
  /** Stops listening (the default signal handling is back). */
  dispose(): void;
}

export function stopOnSignals(onFirst?: (signal: NodeJS.Signals) => void): StopSignals {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const names: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];
  const dispose = (): void => {
    for (const name of names) process.off(name, handle);
  };
  const endNow = (signal: NodeJS.Signals): void => {
    dispose();
    process.kill(process.pid, signal);
  };
  function handle(signal: NodeJS.Signals): void {
    if (received !== undefined) {
      endNow(signal);
      return;
    }
    received = signal;
    onFirst?.(signal);
    controller.abort(new Error(`received ${signal}`));
  }
  for (const name of names) process.on(name, handle);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    endSoon: (afterMs = 1000) => {
      const signal = received;
      if (signal === undefined) return;
      // unref: a process that can exit by itself does so, with its exit code.
      setTimeout(() => endNow(signal), afterMs).unref();
    },
    dispose,
  };
}
