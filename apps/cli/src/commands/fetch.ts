import { type Command, InvalidArgumentError, Option } from "commander";
import type { ExitCode } from "../errors";
import { DEFAULT_MDA_TIMEOUT_S, type FetchOptions } from "../fetch/options";
import { runFetch } from "../fetch/run";
import { stopOnSignals } from "../fetch/signals";
import type { Context } from "../session";

export type { FetchOptions } from "../fetch/options";

/** The fetch sub-command's options (cli.ts declares the command, this its flags). */
export function declareFetchOptions(command: Command): Command {
  return command
    .description(
      "download new messages into a Maildir or an mbox, or pipe them to an MDA, crash-safely",
    )
    .option("--maildir <dir>", "deliver into this Maildir (created if missing)")
    .option("--mbox <file>", "append to this mbox file (mboxrd)")
    .option(
      "--mda <command>",
      "pipe each message to this command (/bin/sh -c), e.g. 'procmail'; stored only when it exits 0",
    )
    .option(
      "--mda-timeout <seconds>",
      `kill an MDA that keeps fetch waiting this long (default ${DEFAULT_MDA_TIMEOUT_S})`,
      seconds,
    )
    .addOption(
      new Option(
        "--delete",
        "delete each message from the server once it is stored durably",
      ).conflicts(["keep", "deleteAfter"]),
    )
    .addOption(
      new Option("--keep", "never delete from the server (the default, said explicitly)").conflicts(
        ["delete", "deleteAfter"],
      ),
    )
    .addOption(
      new Option(
        "--delete-after <days>",
        "delete a stored message from the server once it was first stored DAYS ago",
      ).argParser(days),
    )
    .option("--all", "ignore what was fetched before (a Maildir still never gets a message twice)")
    .option("--max-size <size>", "skip messages larger than this (e.g. 10M)", size)
    .option("--limit <n>", "fetch at most n messages this time", count)
    .option(
      "--state <file>",
      "where to remember fetched UIDLs (default: beside the destination; for --mda in ~/.local/state/pop3-cli)",
    )
    .addOption(
      new Option(
        "--size-mismatch <mode>",
        "a message whose size differs from LIST: error (not stored, default) or warn (stored)",
      ).choices(["warn", "error"]),
    );
}

/** The parsed fetch options of the command declared by `declareFetchOptions`. */
export function fetchOptionsOf(command: Command): FetchOptions {
  // With the global options: --quiet and --verbose (see FetchOptions) are declared for every command.
  return command.optsWithGlobals<FetchOptions>();
}

/**
 * `pop3 fetch`: runFetch with the process's signals. The first Ctrl-C or SIGTERM stops after
 * the current message (within 5 s) and exits 130; a second one ends the process at once.
 */
export async function fetchCommand(context: Context, options: FetchOptions): Promise<ExitCode> {
  const { output } = context;
  const stop = stopOnSignals(() => {
    // On stderr, with --json too (stdout carries the events).
    if (options.quiet !== true) {
      output.note("\nstopping after the current message (again to stop at once)…");
    }
  });
  try {
    const summary = await runFetch(
      { config: context.config, trace: context.trace },
      options,
      output,
      stop.signal,
    );
    // Interrupted: the process must end even if a call of the run never returns.
    stop.endSoon(summary.unsettled ? 0 : 1000);
    return summary.exitCode;
  } finally {
    stop.dispose();
  }
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number");
  return Number(value);
}

function days(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError("a number of days, e.g. 7");
  return Number(value);
}

function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new InvalidArgumentError("a number of seconds above 0");
  }
  return Number(value);
}

/** `10M`, `512k`, `2000000` → octets. */
function size(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim());
  if (match === null) throw new InvalidArgumentError("a size like 5000000, 512k, 10M or 1G");
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? "").toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}
