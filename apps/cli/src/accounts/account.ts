import { type ResolvedConfig, resolveConfig } from "../config";
import { CliError, EXIT } from "../errors";
import type { Output } from "../output";
import type { AccountSpec } from "./load";
import { runPasswordCommand } from "./password";

/** What an account asks `fetch` to do; the same names as fetch's flags. */
export interface AccountFetchOptions {
  readonly maildir?: string;
  readonly mbox?: string;
  readonly mda?: string;
  readonly keep?: boolean;
  readonly delete?: boolean;
  readonly deleteAfter?: number;
  readonly limit?: number;
  readonly maxSize?: number;
  readonly state?: string;
}

/** One mailbox to fetch: where and how to connect, where to deliver, and its password. */
export interface Account {
  readonly name: string;
  readonly config: ResolvedConfig;
  readonly fetch: AccountFetchOptions;
  /**
   * The configuration with the password for this poll: a passwordCommand runs the first time
   * and again after a refused login (`forgetPassword`), so a changed password is picked up.
   */
  withPassword(signal?: AbortSignal): Promise<ResolvedConfig>;
  forgetPassword(): void;
}

/** Command-line settings that apply to every account of a file when given. */
export interface AccountOverrides {
  readonly timeout?: string;
  readonly insecure?: boolean;
  readonly allowCleartext?: boolean;
}

/**
 * An account of the file, resolved and validated as the command line is (the same rules and
 * messages, naming `accounts.NAME.KEY in FILE`), with its password source: `password`,
 * `passwordEnv`, `passwordCommand`, else ~/.netrc (or $NETRC), else the prompt on a terminal.
 */
export async function resolveAccount(
  spec: AccountSpec,
  options: { env: NodeJS.ProcessEnv; output: Output; overrides?: AccountOverrides },
): Promise<Account> {
  const { env, output } = options;
  const overrides = options.overrides ?? {};
  let password = spec.password;
  if (spec.passwordEnv !== undefined) {
    password = env[spec.passwordEnv];
    if (password === undefined || password === "") {
      throw new CliError(
        EXIT.USAGE,
        `${spec.describe("passwordEnv")}: the environment variable ${spec.passwordEnv} is not set`,
        { code: "POP3_CONFIG" },
      );
    }
  }
  const config = await resolveConfig({
    flags: {
      ...(spec.url === undefined ? {} : { url: spec.url }),
      ...(spec.host === undefined ? {} : { host: spec.host }),
      ...(spec.port === undefined ? {} : { port: String(spec.port) }),
      ...(spec.user === undefined ? {} : { user: spec.user }),
      ...(spec.tls === undefined ? {} : { tls: spec.tls }),
      ...(password === undefined ? {} : { password }),
      ...(spec.ca === undefined ? {} : { ca: spec.ca }),
      ...(spec.servername === undefined ? {} : { servername: spec.servername }),
      ...(spec.mechanism === undefined ? {} : { mechanism: spec.mechanism }),
      ...(spec.pinSha256 === undefined
        ? {}
        : { pinSha256: typeof spec.pinSha256 === "string" ? [spec.pinSha256] : spec.pinSha256 }),
      timeout: overrides.timeout ?? String(spec.timeout ?? 30),
      insecure: overrides.insecure === true || spec.insecure === true,
      allowCleartext: overrides.allowCleartext === true || spec.allowCleartext === true,
    },
    positionalUrl: undefined,
    env,
    output,
    account: { describe: spec.describe },
  });
  const command = spec.passwordCommand;
  let cached: string | undefined;
  return {
    name: spec.name,
    config,
    fetch: fetchOptions(spec),
    async withPassword(signal) {
      if (command === undefined) return config;
      cached ??= await runPasswordCommand(command, {
        from: spec.describe("passwordCommand"),
        env,
        ...(signal === undefined ? {} : { signal }),
      });
      return { ...config, password: cached, sources: { ...config.sources, password: "command" } };
    },
    forgetPassword() {
      cached = undefined;
    },
  };
}

function fetchOptions(spec: AccountSpec): AccountFetchOptions {
  const keys = [
    "maildir",
    "mbox",
    "mda",
    "keep",
    "delete",
    "deleteAfter",
    "limit",
    "maxSize",
    "state",
  ];
  const options: Record<string, unknown> = {};
  for (const key of keys) {
    const value = (spec as unknown as Record<string, unknown>)[key];
    if (value !== undefined) options[key] = value;
  }
  return options as AccountFetchOptions;
}

/** The one-account case of the daemon: the command line's server and fetch flags. */
export function commandLineAccount(config: ResolvedConfig, fetch: AccountFetchOptions): Account {
  return {
    name: `${config.user ?? "?"}@${config.host}`,
    config,
    fetch,
    withPassword: async () => config,
    forgetPassword: () => {},
  };
}

/** The accounts to work on: all of them, or the one `--account` names. */
export function selectAccounts<T extends { readonly name: string }>(
  accounts: readonly T[],
  name: string | undefined,
  file: string,
): T[] {
  if (name === undefined) return [...accounts];
  const found = accounts.find((a) => a.name === name);
  if (found === undefined) {
    throw new CliError(
      EXIT.USAGE,
      `--account ${name}: no such account in ${file} (it has ${accounts.map((a) => a.name).join(", ")})`,
      { code: "POP3_CONFIG" },
    );
  }
  return [found];
}
