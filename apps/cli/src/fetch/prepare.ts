import { ServerReplyError } from "pop3-client";
import { CliError, EXIT, toCliError } from "../errors";
import { openSession } from "../session";
import { openDestination } from "./destination";
import { makeDirDurably } from "./fsutil";
import { acquireLock } from "./lock";
import { DEFAULT_MDA_TIMEOUT_S } from "./options";
import { makePlan, type PlanItem } from "./plan";
import { checkNotCut, type FetchRun } from "./run-state";
import { FetchState } from "./state";

/**
 * The local side, before connecting (so a local problem costs no login): the directory, the
 * lock, the state, and the destination with its recovery.
 */
export async function prepare(run: FetchRun): Promise<void> {
  const { location } = run;
  const where = location.kind === "mda" ? location.statePath : location.target;
  try {
    await makeDirDurably(location.directory);
    checkNotCut(run);
    run.lock = await acquireLock(location.lockPath, where);
    checkNotCut(run);
    run.state = await FetchState.load(location.statePath, location.kind);
    if (run.state.damagedLines > 0) {
      run.reporter.warn(
        `${location.statePath}: ${run.state.damagedLines} unreadable line(s) ignored`,
      );
    }
    checkNotCut(run);
    run.destination = await openDestination({
      location,
      state: run.state,
      account: run.account,
      host: run.config.host,
      user: run.config.user,
      mdaTimeoutMs: (run.options.mdaTimeout ?? DEFAULT_MDA_TIMEOUT_S) * 1000,
      note: (message) => run.reporter.note(message),
      warn: (message) => run.reporter.warn(message),
    });
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.LOCAL_IO, `${where}: ${(error as Error).message}`, { cause: error });
  }
}

/** Connects and logs in; the client's warnings go to the message being downloaded. */
export async function connect(run: FetchRun): Promise<void> {
  checkNotCut(run);
  run.client = await openSession(
    {
      config: run.config,
      output: run.output,
      trace: run.trace,
      signal: run.cut.signal,
      client: {
        onSizeMismatch: run.options.sizeMismatch ?? "error",
        onWarning: (warning) => {
          const item = run.current;
          const code = (warning as { code?: unknown }).code;
          if (item === undefined) run.reporter.warn(warning.message);
          else
            run.reporter.emit({
              event: "warning",
              msg: item.msg,
              uid: item.uid,
              code: typeof code === "string" ? code : "WARNING",
              message: warning.message,
            });
        },
      },
    },
    { login: true },
  );
}

/** LIST and UIDL, then the plan; reports the `start` event. */
export async function planRun(run: FetchRun): Promise<PlanItem[]> {
  const client = run.client;
  const state = run.state;
  const destination = run.destination;
  if (client === undefined || state === undefined || destination === undefined) {
    throw new Error("planRun before prepare and connect");
  }
  let listing: { msg: number; size: number }[];
  let uids: { msg: number; uid: string }[];
  try {
    [listing, uids] = await Promise.all([client.list(), client.uidl()]);
  } catch (error) {
    if (error instanceof ServerReplyError && error.command.startsWith("UIDL")) {
      throw new CliError(
        EXIT.SERVER,
        `the server does not support UIDL (${error.message}): fetch cannot tell new messages from old ones`,
        { cause: error },
      );
    }
    throw toCliError(error);
  }
  const plan = makePlan(
    listing,
    uids,
    (uid) => {
      const record = state.get(run.account, uid);
      return { record, here: destination.holds(uid, record) };
    },
    run.options,
  );
  const toFetch = plan.filter((p) => p.action === "fetch");
  run.tally.onServer = listing.length;
  run.tally.alreadyStored = plan.filter((p) => p.action === "stored").length;
  run.reporter.emit({
    event: "start",
    account: run.account,
    destination: run.location.target,
    messages: toFetch.length,
    octets: toFetch.reduce((sum, p) => sum + p.size, 0),
    onServer: listing.length,
    alreadyStored: run.tally.alreadyStored,
    skipped: plan.filter((p) => p.action === "too-large" || p.action === "limit").length,
  });
  return plan;
}
