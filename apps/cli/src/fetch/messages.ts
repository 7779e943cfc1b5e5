import { ClientError, type MessageStream, ServerReplyError } from "pop3-client";
import { CliError, EXIT, toCliError } from "../errors";
import { failpoint } from "./failpoint";
import { MdaError } from "./mda";
import { type PlanItem, shouldDelete } from "./plan";
import { checkNotCut, type FetchRun } from "./run-state";

/**
 * Goes through the plan in message order: skips, downloads and stores, records, deletes. A
 * message is recorded only once it is durable in the destination, and marked for deletion
 * only once it is recorded. Stops early on a stop request (after the current message), a broken
 * connection or a local write error; a message the server refuses (-ERR), whose size is wrong,
 * or that the MDA does not accept is reported and left on the server.
 */
export async function fetchMessages(run: FetchRun, plan: readonly PlanItem[]): Promise<void> {
  for (const item of plan) {
    if (run.stopRequested || run.cut.signal.aborted) break;
    if (item.action === "too-large" || item.action === "limit") {
      run.tally.skipped += 1;
      run.reporter.emit({
        event: "skipped",
        msg: item.msg,
        uid: item.uid,
        size: item.size,
        reason: item.action,
      });
      continue;
    }
    let storedAt = item.storedAt;
    if (item.action === "fetch") {
      const outcome = await fetchOne(run, item);
      if (outcome === "stop") break;
      if (outcome === "failed") continue;
      // Just recorded; stored before (--all) it keeps its first date.
      storedAt = run.state?.get(run.account, item.uid)?.at;
    } else if (item.adopt === true) {
      await recordAdopted(run, item);
    }
    if (shouldDelete(run.policy, storedAt, Date.now())) {
      if ((await markDeleted(run, item)) === "stop") break;
    }
  }
  run.current = undefined;
}

/** Downloads, stores and records one message. */
async function fetchOne(run: FetchRun, item: PlanItem): Promise<"stored" | "failed" | "stop"> {
  const client = run.client;
  const state = run.state;
  const destination = run.destination;
  if (client === undefined || state === undefined || destination === undefined) return "stop";
  run.current = item;
  run.reporter.nextMessage();
  let stream: MessageStream;
  try {
    stream = await client.retrieve(item.msg);
  } catch (error) {
    return failed(run, item, error, error instanceof ServerReplyError ? "failed" : "stop");
  }
  let delivered: Awaited<ReturnType<typeof destination.deliver>>;
  try {
    delivered = await destination.deliver({
      uid: item.uid,
      size: item.size,
      stream,
      onBytes: (received) => run.reporter.bytes(item.msg, item.uid, received, item.size),
      proceed: () => checkNotCut(run),
      cut: run.cut.signal,
    });
  } catch (error) {
    // The rest of the message, if any, is read and dropped by the client.
    stream.destroy();
    if (run.cut.signal.aborted) return "stop";
    if (error instanceof MdaError) {
      return failed(run, item, new CliError(EXIT.PARTIAL, error.message, { code: error.code }));
    }
    if (isDownloadError(error)) {
      const truncated = error instanceof ClientError && error.code === "POP3_TRUNCATED";
      return failed(run, item, error, truncated ? "failed" : "stop");
    }
    run.localFailure = new CliError(
      EXIT.LOCAL_IO,
      `${run.location.target}: ${(error as Error).message}`,
      { cause: error },
    );
    failed(run, item, run.localFailure, "stop");
    return "stop";
  }
  // Durable now: only then is it recorded, and only then may it be deleted.
  await state.record({
    account: run.account,
    uid: item.uid,
    size: delivered.size,
    at: new Date().toISOString(),
    ...(delivered.end === undefined ? {} : { end: delivered.end }),
    ...(delivered.file === undefined ? {} : { file: delivered.file }),
  });
  run.tally.stored += 1;
  run.tally.octets += delivered.size;
  run.reporter.emit({
    event: "stored",
    msg: item.msg,
    uid: item.uid,
    size: delivered.size,
    location: delivered.location,
  });
  await failpoint("recorded");
  return "stored";
}

/** Found in the destination but not in the state (a crash between storing and recording). */
async function recordAdopted(run: FetchRun, item: PlanItem): Promise<void> {
  await run.state?.record({
    account: run.account,
    uid: item.uid,
    size: item.size,
    at: new Date().toISOString(),
    ...run.destination?.adopted(item.uid),
  });
}

async function markDeleted(run: FetchRun, item: PlanItem): Promise<"marked" | "failed" | "stop"> {
  const client = run.client;
  if (client === undefined || run.cut.signal.aborted) return "stop";
  try {
    await client.delete(item.msg);
  } catch (error) {
    return failed(run, item, error, error instanceof ServerReplyError ? "failed" : "stop");
  }
  run.tally.marked += 1;
  run.reporter.emit({ event: "marked-deleted", msg: item.msg, uid: item.uid });
  await failpoint("marked-deleted");
  return "marked";
}

/** Reports a failed message; "stop" also records that the connection broke. */
function failed<T extends "failed" | "stop">(
  run: FetchRun,
  item: PlanItem,
  error: unknown,
  outcome: T = "failed" as T,
): T {
  const problem = toCliError(error);
  run.tally.failed += 1;
  run.reporter.emit({
    event: "failed",
    msg: item.msg,
    uid: item.uid,
    error: problem.message,
    code: problem.code,
  });
  if (outcome === "stop" && run.localFailure === undefined && !run.cut.signal.aborted) {
    run.broken = problem;
  }
  return outcome;
}

/** The connection or the server failed during a download (not the disk). */
function isDownloadError(error: unknown): boolean {
  return (
    error instanceof ClientError || (error instanceof Error && error.name.endsWith("ProtocolError"))
  );
}
