import { Command, CommanderError, Option } from "commander";
import type { AccountFetchOptions } from "./accounts/account";
import { commandLineAccount } from "./accounts/account";
import {
  accountsOfConfigFile,
  type ConfigFileOptions,
  oneAccountConfig,
  PER_ACCOUNT_FETCH_FLAGS,
} from "./accounts/from-command";
import { fetchAccounts, runAccountsDaemon } from "./accounts/run";
import { collect, count, messageNumber, seconds } from "./args";
import { extractUrl, packageVersion, strayServerArgument } from "./argv";
import {
  capaCommand,
  deleCommand,
  listCommand,
  retrCommand,
  statCommand,
  topCommand,
  uidlCommand,
} from "./commands/basic";
import { conformanceCommand } from "./commands/conformance";
import { doctorCommand } from "./commands/doctor";
import { declareFetchOptions, fetchCommand, fetchOptionsOf } from "./commands/fetch";
import { type ConnectionFlags, MECHANISMS, resolveConfig } from "./config";
import { EXIT, type ExitCode, toCliError } from "./errors";
import { Output, type Verbosity } from "./output";
import type { Context } from "./session";

export { extractUrl, packageVersion, strayServerArgument } from "./argv";

interface GlobalOptions extends ConnectionFlags {
  readonly json?: boolean;
  readonly trace?: boolean;
  readonly color?: boolean;
  readonly quiet?: boolean;
  readonly verbose?: boolean;
  readonly config?: string;
  readonly account?: string;
}

/** One run of `pop3`: its environment, the URL taken out of argv, and what it prints with. */
interface Invocation {
  readonly env: NodeJS.ProcessEnv;
  readonly url: string | undefined;
  output: Output;
  exitCode: ExitCode;
}

const EXIT_CODES_HELP = `
Exit codes:
  0  success (also: fetch --daemon stopped by SIGTERM or Ctrl-C)
  1  usage or configuration error
  2  connection, TLS or protocol failure (also: the certificate is not the --pin-sha256 one)
  3  login refused (also: the server does not offer the --mechanism)
  4  the server answered -ERR
  5  conformance: a MUST check failed
  6  fetch: partial (some messages not fetched or not deleted)
  7  a local file could not be read or written
  130 interrupted (a stop that could not finish in time ends by the signal itself:
      a shell shows 130 for SIGINT, 143 for SIGTERM)

Configuration, highest precedence first: flags, the URL (pop3://user@host:port, pop3s://...),
POP3_HOST/POP3_PORT/POP3_USER/POP3_PASSWORD, POP3_URL, ~/.netrc (or $NETRC). Without a password
on a terminal, pop3 asks for it. Or: --config FILE (TOML or JSON accounts) [--account NAME].`;

export async function main(
  rawArgv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCode> {
  const output = new Output({
    json: rawArgv.includes("--json"),
    color: !rawArgv.includes("--no-color"),
    env,
  });
  let extracted: { argv: string[]; url: string | undefined };
  try {
    extracted = extractUrl(rawArgv);
  } catch (error) {
    return report(output, error);
  }
  const invocation: Invocation = { env, url: extracted.url, output, exitCode: EXIT.OK };
  const program = buildProgram(invocation);
  if (extracted.argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  const valueFlags = optionsTakingValues(program);
  const stray = strayServerArgument(extracted.argv, (flag) => valueFlags.has(flag));
  if (stray !== undefined) return report(invocation.output, stray);
  try {
    await program.parseAsync(extracted.argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return report(invocation.output, error);
  }
  return invocation.exitCode;
}

function buildProgram(invocation: Invocation): Command {
  const program = new Command("pop3")
    .description("A POP3 command-line client: read, delete and fetch mail, diagnose servers.")
    .usage("[options] <command> [url] [args]")
    .version(packageVersion(), "-V, --version", "print the version of pop3-cli")
    .addHelpText("after", EXIT_CODES_HELP)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => invocation.output.stdout.write(text),
      writeErr: (text) => invocation.output.stderr.write(text),
    })
    .configureHelp({ showGlobalOptions: true });
  declareGlobalOptions(program);
  declareCommands(program, invocation);
  return program;
}

function declareGlobalOptions(program: Command): void {
  program
    .addOption(new Option("--url <url>", "server URL: pop3://user@host:port or pop3s://user@host"))
    .option("--host <host>", "server host name (POP3_HOST)")
    .option("--port <port>", "port (POP3_PORT; default 110, or 995 with implicit TLS)")
    .option("--user <user>", "user name (POP3_USER)")
    .option(
      "--password <password>",
      "password (visible in ps; prefer POP3_PASSWORD, ~/.netrc or the prompt)",
    )
    .addOption(
      new Option("--tls <mode>", "implicit (pop3s), starttls (default) or none").choices([
        "implicit",
        "starttls",
        "none",
      ]),
    )
    .option("--insecure", "do not verify the server's certificate")
    .option("--ca <file>", "trust this PEM certificate (POP3_CA)")
    .option("--allow-cleartext", "with starttls, go on without TLS when the server offers no STLS")
    .option("--servername <name>", "name to verify the certificate against (default: the host)")
    .option(
      "--pin-sha256 <pin>",
      "accept only this certificate: its pin-sha256 as pop3 doctor prints it (repeatable)",
      collect,
    )
    .option("--mechanism <name>", `log in with this mechanism only: ${MECHANISMS.join(", ")}`)
    .option("--timeout <seconds>", "connect and greeting timeout", "30")
    .option("--config <file>", "accounts file (TOML or JSON); see the README")
    .option("--account <name>", "the account of --config to use (fetch: all by default)")
    .option("--json", "machine-readable output (JSON; NDJSON events for fetch)")
    .addOption(
      new Option("-q, --quiet", "print only errors, warnings and the data asked for").conflicts(
        "verbose",
      ),
    )
    .option("-v, --verbose", "also say what happens on the way (connection, TLS, login) on stderr")
    .option("--trace", "print the protocol to stderr (passwords shown as ***)")
    .option("--no-color", "no colours (also: NO_COLOR, or output not a terminal)");
}

function declareCommands(program: Command, invocation: Invocation): void {
  const run = (body: (ctx: Context, command: Command) => Promise<ExitCode>) => {
    return async (...args: unknown[]): Promise<void> => {
      const command = args[args.length - 1] as Command;
      invocation.exitCode = await body(await commandContext(invocation, command), command);
    };
  };
  const sub = (name: string, description: string): Command =>
    program
      .command(name)
      .description(description)
      .usage(`[options] [url]`)
      .configureHelp({ showGlobalOptions: true })
      .exitOverride();
  const output = (cmd: Command) => cmd.opts<{ output?: string }>().output;
  const msg = (cmd: Command, i = 0) => cmd.processedArgs[i] as number;

  sub("capa", "show the server's capabilities (after STLS)")
    .option("--login", "log in first and show the capabilities after login")
    .action(run((ctx, cmd) => capaCommand(ctx, cmd.opts<{ login?: boolean }>())));
  sub("stat", "number of messages and total size").action(run((ctx) => statCommand(ctx)));
  sub("list", "message numbers and sizes")
    .usage("[options] [url] [msg]")
    .argument("[msg]", "only this message", messageNumber)
    .action(run((ctx, cmd) => listCommand(ctx, msg(cmd) as number | undefined)));
  sub("uidl", "message numbers and unique ids")
    .usage("[options] [url] [msg]")
    .argument("[msg]", "only this message", messageNumber)
    .action(run((ctx, cmd) => uidlCommand(ctx, msg(cmd) as number | undefined)));
  sub("retr", "write a message's raw bytes (CRLF, as the server sends them) to stdout or a file")
    .usage("[options] [url] <msg>")
    .argument("<msg>", "message number", messageNumber)
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(run((ctx, cmd) => retrCommand(ctx, msg(cmd), output(cmd))));
  sub("top", "write a message's header and the first lines of its body")
    .usage("[options] [url] <msg> [lines]")
    .argument("<msg>", "message number", messageNumber)
    .argument("[lines]", "body lines (default 0: the header only)", count)
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(run((ctx, cmd) => topCommand(ctx, msg(cmd), msg(cmd, 1) ?? 0, output(cmd))));
  sub("dele", "delete messages (DELE, then QUIT commits; all or nothing)")
    .usage("[options] [url] <msg...>")
    .argument("<msg...>", "message numbers", (value: string, previous: number[] | undefined) => [
      ...(previous ?? []),
      messageNumber(value),
    ])
    .action(run((ctx, cmd) => deleCommand(ctx, cmd.processedArgs[0] as number[])));

  declareFetchOptions(sub("fetch", "download new messages"))
    .option("--daemon", "keep polling every --interval seconds (backing off after failures)")
    .option(
      "--interval <seconds>",
      "with --daemon: seconds between polls (default 300; implies --daemon)",
      seconds(1),
    )
    .action(async (...args: unknown[]) => {
      invocation.exitCode = await fetchAction(invocation, args[args.length - 1] as Command);
    });

  sub("doctor", "check a server's TLS, capabilities and login options, in plain words")
    .option("--no-login", "do not log in even when a password is known")
    .action(run((ctx, cmd) => doctorCommand(ctx, cmd.opts<{ login?: boolean }>())));
  sub("conformance", "run the RFC conformance suite (pop3-test-harness) against a server")
    .option("--only <ids>", "comma-separated check ids")
    .action(run((ctx, cmd) => conformanceCommand(ctx, cmd.opts<{ only?: string }>())));
}

/** The output for the parsed options (--json, --no-color, --quiet, --verbose). */
function outputFor(invocation: Invocation, options: GlobalOptions): Output {
  const verbosity: Verbosity =
    options.quiet === true ? "quiet" : options.verbose === true ? "verbose" : "normal";
  invocation.output = new Output({
    json: options.json === true,
    color: options.color !== false,
    verbosity,
    env: invocation.env,
  });
  return invocation.output;
}

/** The server of a one-mailbox command: the flags and URL, or the --config account. */
async function commandContext(invocation: Invocation, command: Command): Promise<Context> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const output = outputFor(invocation, options);
  const config =
    options.config === undefined
      ? await resolveConfig({
          flags: options,
          positionalUrl: invocation.url,
          env: invocation.env,
          output,
        })
      : await oneAccountConfig(command, configFileOptions(invocation, options));
  return { config, output, trace: options.trace === true, signal: new AbortController().signal };
}

function configFileOptions(invocation: Invocation, options: GlobalOptions): ConfigFileOptions {
  return {
    file: options.config as string,
    account: options.account,
    positionalUrl: invocation.url,
    env: invocation.env,
    output: invocation.output,
  };
}

/**
 * `pop3 fetch`: one fetch from the command line's server; with --config each account of the
 * file in turn; with --daemon (or --interval) the same, again and again.
 */
async function fetchAction(invocation: Invocation, command: Command): Promise<ExitCode> {
  const options = command.optsWithGlobals<
    GlobalOptions & { daemon?: boolean; interval?: number }
  >();
  const daemon = options.daemon === true || options.interval !== undefined;
  const fetch = fetchOptionsOf(command);
  if (options.config === undefined && !daemon) {
    return fetchCommand(await commandContext(invocation, command), fetch);
  }
  const output = outputFor(invocation, options);
  const trace = options.trace === true;
  let accounts: Awaited<ReturnType<typeof accountsOfConfigFile>>;
  let common = fetch;
  if (options.config === undefined) {
    const context = await commandContext(invocation, command);
    accounts = [commandLineAccount(context.config, fetch as AccountFetchOptions)];
  } else {
    accounts = await accountsOfConfigFile(
      command,
      configFileOptions(invocation, options),
      PER_ACCOUNT_FETCH_FLAGS,
    );
    // What the file gives per account is not taken from the command line's defaults.
    const shared: Record<string, unknown> = { ...fetch };
    for (const key of Object.keys(PER_ACCOUNT_FETCH_FLAGS)) delete shared[key];
    common = shared;
  }
  const runOptions = { output, trace, fetch: common };
  return daemon
    ? runAccountsDaemon(accounts, options.interval ?? 300, runOptions)
    : fetchAccounts(accounts, runOptions);
}

/** Every flag that takes a value (so a value such as `--user alice@host` is not a server). */
function optionsTakingValues(program: Command): Set<string> {
  const flags = new Set<string>();
  for (const command of [program, ...program.commands]) {
    for (const option of command.options) {
      if (!option.required && !option.optional) continue;
      if (option.long !== undefined) flags.add(option.long);
      if (option.short !== undefined) flags.add(option.short);
    }
  }
  return flags;
}

function report(output: Output, error: unknown): ExitCode {
  const problem = toCliError(error);
  output.error(problem.message);
  if (output.json) {
    // One line, always: `fetch --json` promises one JSON object per line, and for the other
    // commands a one-line document is still one JSON document.
    output.event({
      error: { code: problem.code, message: problem.message, exitCode: problem.exitCode },
    });
  }
  return problem.exitCode;
}
