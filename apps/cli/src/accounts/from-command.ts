import type { Command } from "commander";
import type { ConnectionFlags, ResolvedConfig } from "../config";
import { CliError, EXIT } from "../errors";
import type { Output } from "../output";
import { type Account, resolveAccount, selectAccounts } from "./account";
import { loadAccounts } from "./load";

/** Settings of the server that an account file gives per account: refused beside --config. */
const SERVER_FLAGS: Readonly<Record<string, string>> = {
  url: "--url",
  host: "--host",
  port: "--port",
  user: "--user",
  password: "--password",
  tls: "--tls",
  ca: "--ca",
  servername: "--servername",
  mechanism: "--mechanism",
  pinSha256: "--pin-sha256",
};

/** fetch's flags that an account gives (`maildir = …`): refused beside --config. */
export const PER_ACCOUNT_FETCH_FLAGS: Readonly<Record<string, string>> = {
  maildir: "--maildir",
  mbox: "--mbox",
  mda: "--mda",
  keep: "--keep",
  delete: "--delete",
  deleteAfter: "--delete-after",
  limit: "--limit",
  maxSize: "--max-size",
  state: "--state",
};

/** Whether the option `key` was given on the command line (not a default) here or above. */
export function givenOnCommandLine(command: Command, key: string): boolean {
  for (let c: Command | null = command; c !== null; c = c.parent) {
    if (c.getOptionValueSource(key) === "cli") return true;
  }
  return false;
}

export interface ConfigFileOptions {
  readonly file: string;
  readonly account: string | undefined;
  /** The URL given as an argument. */
  readonly positionalUrl: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
}

/**
 * The accounts of `--config FILE` (all, or the one `--account` names), after refusing the
 * command line's server flags (and, for fetch, its per-account flags), which the file gives per
 * account. --timeout, --insecure and --allow-cleartext given on the command line apply to all.
 */
export async function accountsOfConfigFile(
  command: Command,
  options: ConfigFileOptions,
  perAccountFlags: Readonly<Record<string, string>> = {},
): Promise<Account[]> {
  const refused = { ...SERVER_FLAGS, ...perAccountFlags };
  const given = Object.keys(refused).filter((key) => givenOnCommandLine(command, key));
  const names = given.map((key) => refused[key]);
  if (options.positionalUrl !== undefined) names.unshift("a URL");
  if (names.length > 0) {
    throw new CliError(
      EXIT.USAGE,
      `with --config, each account gives its own server and delivery: remove ${names.join(", ")} (or set it in ${options.file})`,
    );
  }
  const file = await loadAccounts(options.file, options.env, options.output);
  const flags = command.optsWithGlobals<ConnectionFlags>();
  const overrides = {
    ...(givenOnCommandLine(command, "timeout") && flags.timeout !== undefined
      ? { timeout: flags.timeout }
      : {}),
    insecure: flags.insecure === true,
    allowCleartext: flags.allowCleartext === true,
  };
  const accounts: Account[] = [];
  for (const spec of selectAccounts(file.accounts, options.account, file.path)) {
    accounts.push(
      await resolveAccount(spec, { env: options.env, output: options.output, overrides }),
    );
  }
  return accounts;
}

/** For a command on one mailbox (stat, list, doctor…): the one account, its password settled. */
export async function oneAccountConfig(
  command: Command,
  options: ConfigFileOptions,
): Promise<ResolvedConfig> {
  const accounts = await accountsOfConfigFile(command, options);
  if (accounts.length > 1) {
    throw new CliError(
      EXIT.USAGE,
      `${options.file} has ${accounts.length} accounts (${accounts.map((a) => a.name).join(", ")}): name one with --account NAME`,
    );
  }
  return (accounts[0] as Account).withPassword();
}
