import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { ClientError, type MessageStream, type Pop3Client, ServerReplyError } from "pop3-client";
import { CliError, EXIT, type ExitCode, toCliError } from "../errors";
import { failpoint } from "../fetch/failpoint";
import { makeDirDurably } from "../fetch/fsutil";
import { acquireLock, type Lock } from "../fetch/lock";
import { Maildir } from "../fetch/maildir";
import { Mbox, scanMarkers } from "../fetch/mbox";
import { FetchReporter } from "../fetch/progress";
import { FetchState } from "../fetch/state";
import { formatBytes } from "../output";
import { type Context, openSession } from "../session";

export interface FetchOptions {
  readonly maildir?: string;
  readonly mbox?: string;
  readonly delete?: boolean;
  readonly all?: boolean;
  readonly maxSize?: number;
  readonly limit?: number;
  readonly state?: string;
}

type Destination =
  | { readonly kind: "maildir"; readonly maildir: Maildir }
  | { readonly kind: "mbox"; readonly mbox: Mbox };

interface Plan {
  readonly msg: number;
  readonly uid: string;
  readonly size: number;
  readonly action: "fetch" | "stored" | "too-large" | "limit";
  /** Maildir: the deterministic file name. */
  readonly name?: string;
  /** Found in the Maildir but not in the state (a crash between rename and journal): record it. */
  readonly adopt?: boolean;
}

/** The fetch sub-command's options (cli.ts declares the command, this its flags). */
export function declareFetchOptions(command: Command): Command {
  return command
    .description("download new messages into a Maildir or an mbox, crash-safely")
    .option("--maildir <dir>", "deliver into this Maildir (created if missing)")
    .option("--mbox <file>", "append to this mbox file (mboxrd)")
    .option("--delete", "delete each message from the server once it is stored durably")
    .option("--all", "ignore what was fetched before (a Maildir still never gets a message twice)")
    .option("--max-size <size>", "skip messages larger than this (e.g. 10M)", size)
    .option("--limit <n>", "fetch at most n messages this time", count)
    .option("--state <file>", "where to remember fetched UIDLs (default: beside the destination)");
}

/** The parsed fetch options of the command declared by `declareFetchOptions`. */
export function fetchOptionsOf(command: Command): FetchOptions {
  return command.opts<FetchOptions>();
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number");
  return Number(value);
}

/** `10M`, `512k`, `2000000` → octets. */
function size(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim());
  if (match === null) throw new InvalidArgumentError("a size like 5000000, 512k, 10M or 1G");
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

/** Set by the first Ctrl-C / SIGTERM: finish the current message, QUIT, stop. */
let stopRequested = false;

export async function fetchCommand(context: Context, options: FetchOptions): Promise<ExitCode> {
  const { config, output } = context;
  if ((options.maildir === undefined) === (options.mbox === undefined)) {
    throw new CliError(
      EXIT.USAGE,
      "fetch needs exactly one destination: --maildir DIR or --mbox FILE",
    );
  }
  const user = config.user;
  if (user === undefined) {
    throw new CliError(
      EXIT.USAGE,
      "no user given: use pop3://user@host, --user, POP3_USER or a login in ~/.netrc",
    );
  }
  const account = `${user}@${config.host}`;
  const kind = options.maildir !== undefined ? "maildir" : "mbox";
  const target = resolve((options.maildir ?? options.mbox) as string);
  const statePath =
    options.state !== undefined
      ? resolve(options.state)
      : kind === "maildir"
        ? `${target}/.pop3-fetch-state.json`
        : `${target}.pop3-fetch-state.json`;

  let lock: Lock | undefined;
  let state: FetchState | undefined;
  let destination: Destination | undefined;
  let client: Pop3Client | undefined;
  const reporter = new FetchReporter(output);
  const onSignal = (): void => {
    if (stopRequested) process.exit(EXIT.INTERRUPTED);
    stopRequested = true;
    if (!output.json) output.note("\nstopping after the current message (again to abort)…");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // Destination, lock, state; all before connecting so a local problem costs no login.
    try {
      if (kind === "maildir") await makeDirDurably(target);
      else await makeDirDurably(resolve(target, ".."));
      lock = await acquireLock(
        kind === "maildir" ? `${target}/.pop3-fetch.lock` : `${target}.lock`,
        target,
      );
      state = await FetchState.load(statePath, kind);
      if (state.damagedLines > 0) {
        output.warn(`${statePath}: ${state.damagedLines} unreadable line(s) ignored`);
      }
      if (kind === "maildir") {
        destination = { kind, maildir: await Maildir.open(target) };
        await state.begin();
      } else {
        if (!state.existed) {
          // No state: learn what the file already holds from its X-POP3-UIDL markers.
          for (const found of await scanMarkers(target)) {
            state.adopt({
              account: found.account,
              uid: found.uid,
              size: 0,
              at: new Date().toISOString(),
            });
          }
        }
        const { mbox, recovery } = await Mbox.open(target, state.mboxLength);
        destination = { kind, mbox };
        if (recovery.action === "truncated") {
          output.note(
            `${target}: removed ${recovery.bytes} bytes of a message that an interrupted run had not finished`,
          );
        } else if (recovery.action === "adopted-foreign-tail") {
          output.warn(
            `${target}: ${recovery.bytes} bytes were added by another program since the last fetch; keeping them`,
          );
        } else if (recovery.action === "shrunk") {
          output.warn(
            `${target} is ${recovery.bytes} bytes shorter than after the last fetch (edited by a mail program?)`,
          );
        }
        await state.begin(mbox.length);
      }
    } catch (error) {
      if (error instanceof CliError) throw error;
      throw new CliError(EXIT.LOCAL_IO, `${target}: ${(error as Error).message}`, { cause: error });
    }

    client = await openSession(context, { login: true });
    let listing: { msg: number; size: number }[];
    let uids: { msg: number; uid: string }[];
    try {
      [listing, uids] = await Promise.all([client.list(), client.uidl()]);
    } catch (error) {
      if (error instanceof ServerReplyError && error.command.startsWith("UIDL")) {
        throw new CliError(
          EXIT.SERVER,
          `the server does not support UIDL (${error.message}): fetch cannot tell new messages from old ones`,
        );
      }
      throw toCliError(error);
    }
    const plan = makePlan(listing, uids, { state, destination, account, config, options });
    const toFetch = plan.filter((p) => p.action === "fetch");
    reporter.emit({
      event: "start",
      account,
      destination: target,
      messages: toFetch.length,
      octets: toFetch.reduce((sum, p) => sum + p.size, 0),
      onServer: listing.length,
      alreadyStored: plan.filter((p) => p.action === "stored").length,
      skipped: plan.filter((p) => p.action === "too-large" || p.action === "limit").length,
    });

    let stored = 0;
    let octets = 0;
    let failed = 0;
    let skipped = 0;
    let marked = 0;
    let broken: CliError | undefined;
    let localFailure: CliError | undefined;
    for (const item of plan) {
      if (stopRequested) break;
      const fail = (problem: CliError): void => {
        failed += 1;
        reporter.emit({
          event: "failed",
          msg: item.msg,
          uid: item.uid,
          error: problem.message,
          code: problem.code,
        });
      };
      if (item.action === "too-large" || item.action === "limit") {
        skipped += 1;
        reporter.emit({
          event: "skipped",
          msg: item.msg,
          uid: item.uid,
          size: item.size,
          reason: item.action,
        });
        continue;
      }
      if (item.action === "fetch") {
        reporter.nextMessage();
        let stream: AsyncIterable<Uint8Array>;
        try {
          stream = consumeNow(await client.retrieve(item.msg));
        } catch (error) {
          const problem = toCliError(error);
          fail(problem);
          if (!(error instanceof ServerReplyError)) {
            broken = problem;
            break;
          }
          continue;
        }
        let location: string;
        let size: number;
        let end: number | undefined;
        try {
          const onBytes = (received: number): void =>
            reporter.bytes(item.msg, item.uid, received, item.size);
          if (destination.kind === "maildir") {
            const result = await destination.maildir.store(item.name as string, stream, onBytes);
            location = result.file;
            size = result.size;
          } else {
            const result = await destination.mbox.append(item.uid, account, stream, onBytes);
            location = `${target}@${result.start}`;
            size = result.size;
            end = result.end;
          }
        } catch (error) {
          if (isDownloadError(error)) {
            const problem = toCliError(error);
            fail(problem);
            if (error instanceof ClientError && error.code === "POP3_TRUNCATED") continue;
            broken = problem;
            break;
          }
          localFailure = new CliError(EXIT.LOCAL_IO, `${target}: ${(error as Error).message}`, {
            cause: error,
          });
          fail(localFailure);
          break;
        }
        // Durable now: only then is it recorded, and only then may it be deleted.
        await state.record({
          account,
          uid: item.uid,
          size,
          at: new Date().toISOString(),
          ...(end === undefined ? {} : { end }),
        });
        stored += 1;
        octets += size;
        reporter.emit({ event: "stored", msg: item.msg, uid: item.uid, size, location });
        await failpoint("recorded");
      }
      if (item.action === "stored" && item.adopt === true) {
        await state.record({
          account,
          uid: item.uid,
          size: item.size,
          at: new Date().toISOString(),
        });
      }
      // "stored" (earlier run) or just fetched: the message is durable here.
      if (options.delete === true) {
        try {
          await client.delete(item.msg);
          marked += 1;
          reporter.emit({ event: "marked-deleted", msg: item.msg, uid: item.uid });
          await failpoint("marked-deleted");
        } catch (error) {
          const problem = toCliError(error);
          fail(problem);
          if (!(error instanceof ServerReplyError)) {
            broken = problem;
            break;
          }
        }
      }
    }

    let committed: boolean | null = null;
    if (broken === undefined) {
      await failpoint("before-quit");
      try {
        const result = await client.quit();
        if (marked > 0) {
          committed = result.committed;
          if (!committed) {
            failed += marked;
            output.error(
              `the server did not remove the ${marked} message(s) marked for deletion: ${result.reply.text}; they stay on the server and will be deleted next time`,
            );
          }
        }
      } catch (error) {
        if (marked > 0) {
          // Deletions were pending: without QUIT's +OK we cannot know they were committed.
          broken = toCliError(error);
          committed = false;
        } else if (!output.json) {
          // Nothing waited for the UPDATE state: every stored message is recorded, the server
          // keeps what it had. Not a partial fetch; worth a note, not an exit code.
          output.note(
            `note: no answer to QUIT (${toCliError(error).message}); nothing needed committing`,
          );
        }
      }
    } else {
      client.close();
      if (marked > 0) committed = false;
    }
    client = undefined;
    const interrupted = stopRequested;
    const exitCode: ExitCode = localFailure
      ? EXIT.LOCAL_IO
      : interrupted
        ? EXIT.INTERRUPTED
        : failed > 0 || broken !== undefined || committed === false
          ? EXIT.PARTIAL
          : EXIT.OK;
    reporter.emit({
      event: "done",
      stored,
      octets,
      failed,
      skipped,
      deleted: committed === true ? marked : 0,
      committed,
      interrupted,
      exitCode,
      // The reason for a non-zero exit that no "failed" event gave (--json shows no stderr text).
      ...(reasonOf(localFailure ?? broken) ?? {}),
    });
    if (broken !== undefined && !output.json) output.error(broken.message);
    if (localFailure !== undefined && !output.json) output.error(localFailure.message);
    if (!output.json) {
      const parts = [
        `stored ${stored} message${stored === 1 ? "" : "s"} (${formatBytes(octets)}) in ${target}`,
      ];
      if (skipped > 0) parts.push(`${skipped} skipped`);
      if (failed > 0) parts.push(`${failed} failed`);
      if (committed === true) parts.push(`${marked} deleted from the server`);
      output.line(parts.join(", "));
    }
    return exitCode;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    reporter.stop();
    client?.close();
    await state?.close().catch(() => {});
    if (destination?.kind === "mbox") await destination.mbox.close().catch(() => {});
    await lock?.release();
  }
}

function reasonOf(problem: CliError | undefined): { error: string; code: string } | undefined {
  return problem === undefined ? undefined : { error: problem.message, code: problem.code };
}

/**
 * A message stream can fail (a size mismatch, found when its last byte arrives) before the
 * consumer has started reading it, e.g. while the file is still being opened. With no 'error'
 * listener yet that would be an uncaught exception; with this one the error waits for the
 * consumer, whose iteration then throws it.
 */
export function consumeNow(stream: MessageStream): MessageStream {
  stream.on("error", () => {});
  return stream;
}

/** The connection or the server failed during a download (not the disk). */
function isDownloadError(error: unknown): boolean {
  return (
    error instanceof ClientError || (error instanceof Error && error.name.endsWith("ProtocolError"))
  );
}

function makePlan(
  listing: readonly { msg: number; size: number }[],
  uids: readonly { msg: number; uid: string }[],
  context: {
    state: FetchState;
    destination: Destination;
    account: string;
    config: Context["config"];
    options: FetchOptions;
  },
): Plan[] {
  const { state, destination, account, config, options } = context;
  const sizes = new Map(listing.map((l) => [l.msg, l.size]));
  const plan: Plan[] = [];
  let fetching = 0;
  for (const { msg, uid } of [...uids].sort((a, b) => a.msg - b.msg)) {
    const size = sizes.get(msg) ?? 0;
    const name =
      destination.kind === "maildir"
        ? Maildir.nameFor(config.host, config.user as string, uid)
        : undefined;
    const inState = options.all !== true && state.has(account, uid);
    // A Maildir file with the message's name is the message: never store it twice, even with --all.
    const inMaildir = destination.kind === "maildir" && destination.maildir.has(name as string);
    const base = { msg, uid, size, ...(name === undefined ? {} : { name }) };
    if (inState || inMaildir) {
      plan.push({ ...base, action: "stored", adopt: !state.has(account, uid) });
      continue;
    }
    if (options.maxSize !== undefined && size > options.maxSize) {
      plan.push({ ...base, action: "too-large" });
      continue;
    }
    if (options.limit !== undefined && fetching >= options.limit) {
      plan.push({ ...base, action: "limit" });
      continue;
    }
    fetching += 1;
    plan.push({ ...base, action: "fetch" });
  }
  return plan;
}
