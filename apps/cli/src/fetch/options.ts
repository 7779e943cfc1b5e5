import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { ResolvedConfig } from "../config";
import { CliError, EXIT } from "../errors";
import type { DestinationKind } from "./state";

/**
 * What one fetch does: the options of `pop3 fetch`, as a config file or `--daemon` loop can
 * give them too (all optional but the destination; validated by `checkFetchOptions`).
 */
export interface FetchOptions {
  /** Exactly one destination: a Maildir, an mbox file, or a command to pipe each message to. */
  readonly maildir?: string;
  readonly mbox?: string;
  readonly mda?: string;
  /** Seconds an MDA may take (waiting for it to read, or to exit) before it is killed. Default 300. */
  readonly mdaTimeout?: number;
  /** Delete each message once it is stored. */
  readonly delete?: boolean;
  /** Never delete (the default, said explicitly; conflicts with delete and deleteAfter). */
  readonly keep?: boolean;
  /** Delete a stored message once it was first stored this many days ago. */
  readonly deleteAfter?: number;
  readonly all?: boolean;
  readonly maxSize?: number;
  readonly limit?: number;
  /** The state file; the default depends on the destination (see `locate`). */
  readonly state?: string;
  /** A message whose size differs from LIST: not stored (error, the default) or stored (warn). */
  readonly sizeMismatch?: "warn" | "error";
  readonly quiet?: boolean;
  readonly verbose?: boolean;
  /** After a stop request, how long the current message may take before the run is cut. Default 5000. */
  readonly stopGraceMs?: number;
}

/** The server account to fetch from: the resolved connection settings. */
export interface FetchAccount {
  readonly config: ResolvedConfig;
  /** Print the protocol to stderr (--trace). */
  readonly trace?: boolean;
}

export type DeletePolicy =
  | { readonly kind: "keep" }
  | { readonly kind: "delete" }
  | { readonly kind: "after"; readonly days: number };

export const DEFAULT_MDA_TIMEOUT_S = 300;
export const DEFAULT_STOP_GRACE_MS = 5000;

/** Refuses contradictory or missing options with a usage error (exit 1). */
export function checkFetchOptions(options: FetchOptions): void {
  const destinations = [options.maildir, options.mbox, options.mda].filter((d) => d !== undefined);
  if (destinations.length !== 1) {
    throw new CliError(
      EXIT.USAGE,
      "fetch needs exactly one destination: --maildir DIR, --mbox FILE or --mda COMMAND",
    );
  }
  if (options.mda !== undefined && options.mda.trim() === "") {
    throw new CliError(EXIT.USAGE, "--mda needs a command, e.g. --mda 'procmail -d alice'");
  }
  if (options.keep === true && (options.delete === true || options.deleteAfter !== undefined)) {
    throw new CliError(EXIT.USAGE, "--keep cannot be combined with --delete or --delete-after");
  }
  if (options.delete === true && options.deleteAfter !== undefined) {
    throw new CliError(EXIT.USAGE, "--delete and --delete-after exclude each other");
  }
  const nonNegative = { deleteAfter: options.deleteAfter, mdaTimeout: options.mdaTimeout };
  for (const [name, value] of Object.entries(nonNegative)) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new CliError(EXIT.USAGE, `${name} must be a number of at least 0`);
    }
  }
}

export function deletePolicy(options: FetchOptions): DeletePolicy {
  if (options.delete === true) return { kind: "delete" };
  if (options.deleteAfter !== undefined) return { kind: "after", days: options.deleteAfter };
  return { kind: "keep" };
}

/** Where a fetch writes: the destination, its state file, its lock, the directory to create. */
export interface Location {
  readonly kind: DestinationKind;
  /** The Maildir or mbox path, or the MDA command. */
  readonly target: string;
  readonly statePath: string;
  readonly lockPath: string;
  /** Created (mkdir -p) before anything else. */
  readonly directory: string;
}

export function locate(options: FetchOptions, account: string, env = process.env): Location {
  const custom = options.state === undefined ? undefined : resolve(options.state);
  if (options.maildir !== undefined) {
    const target = resolve(options.maildir);
    return {
      kind: "maildir",
      target,
      statePath: custom ?? join(target, ".pop3-fetch-state.json"),
      lockPath: join(target, ".pop3-fetch.lock"),
      directory: target,
    };
  }
  if (options.mbox !== undefined) {
    const target = resolve(options.mbox);
    return {
      kind: "mbox",
      target,
      statePath: custom ?? `${target}.pop3-fetch-state.json`,
      lockPath: `${target}.lock`,
      directory: dirname(target),
    };
  }
  // An MDA has no place of its own: the state lives with the user's (XDG) state, per account.
  const stateHome = env["XDG_STATE_HOME"] || join(homedir(), ".local", "state");
  const statePath =
    custom ?? join(stateHome, "pop3-cli", `${account.replace(/[^\w@.-]/g, "_")}.mda-state.json`);
  return {
    kind: "mda",
    target: options.mda as string,
    statePath,
    lockPath: `${statePath}.lock`,
    directory: dirname(statePath),
  };
}
