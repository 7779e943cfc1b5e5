import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
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
import { type ConnectionFlags, isPop3Url, redactUrl, resolveConfig } from "./config";
import { CliError, EXIT, type ExitCode, toCliError } from "./errors";
import { Output } from "./output";
import type { Context } from "./session";

interface GlobalOptions extends ConnectionFlags {
  readonly json?: boolean;
  readonly trace?: boolean;
  readonly color?: boolean;
}

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  usage or configuration error
  2  connection, TLS or protocol failure
  3  login refused
  4  the server answered -ERR
  5  conformance: a MUST check failed
  6  fetch: partial (some messages not fetched or not deleted)
  7  a local file could not be read or written
  130 interrupted

Configuration, highest precedence first: flags, the URL (pop3://user@host:port, pop3s://...),
POP3_HOST/POP3_PORT/POP3_USER/POP3_PASSWORD, POP3_URL, ~/.netrc (or $NETRC). Without a password
on a terminal, pop3 asks for it.`;

function messageNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError("a message number is a whole number from 1");
  }
  return Number(value);
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number");
  return Number(value);
}

/**
 * The version in this package's package.json, read when asked rather than bundled: `src/cli.ts`
 * and the built `dist/index.js` both sit one directory below it, and npm always ships
 * package.json, so the number printed is the one of the installed package.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(
    readFileSync(new URL("../package.json", import.meta.url), "utf8"),
  ) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

/** Takes the POP3 URL out of the positional arguments, wherever it stands. */
export function extractUrl(argv: readonly string[]): { argv: string[]; url: string | undefined } {
  const rest: string[] = [];
  let url: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const previous = argv[i - 1];
    if (isPop3Url(arg) && previous !== "--url") {
      if (url !== undefined) throw new CliError(EXIT.USAGE, "more than one URL given");
      url = arg;
      continue;
    }
    rest.push(arg);
  }
  return { argv: rest, url };
}

/**
 * A positional argument that names a server but is not a POP3 URL: another scheme (`imap://…`) or
 * none (`alice@mail.example.org`, `mail.example.org:995`). Without this check commander calls it
 * "too many arguments" or an invalid message number. Every command's own positional arguments
 * are message numbers and line counts, so anything host-like there can only be a server.
 * `takesValue` says which flags consume the next argument (`--user alice@example.org`).
 */
export function strayServerArgument(
  argv: readonly string[],
  takesValue: (flag: string) => boolean,
): CliError | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") break;
    if (arg.startsWith("-")) {
      if (!arg.includes("=") && takesValue(arg)) i += 1;
      continue;
    }
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(arg);
    if (scheme !== null) {
      return new CliError(
        EXIT.USAGE,
        `${redactUrl(arg)} is not a POP3 URL: the scheme must be pop3:// (STLS) or pop3s:// (implicit TLS), not ${scheme[1]}://`,
      );
    }
    const userAtHost = /^[^\s@/]+@[^\s@/]+$/.test(arg);
    const hostName = /^(localhost|[a-z0-9-]+(\.[a-z0-9-]+)+|\[[0-9a-f:.]+\])(:\d+)?$/i.test(arg);
    if ((userAtHost || hostName) && !/^\d+$/.test(arg)) {
      const shown = redactUrl(`pop3://${arg}`).slice("pop3://".length);
      return new CliError(
        EXIT.USAGE,
        `${shown}: a server is given as a URL with its scheme: pop3://${shown} (STLS) or pop3s://${shown} (implicit TLS)`,
      );
    }
  }
  return undefined;
}

export async function main(
  rawArgv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExitCode> {
  let output = new Output({
    json: rawArgv.includes("--json"),
    color: !rawArgv.includes("--no-color"),
    env,
  });
  let exitCode: ExitCode = EXIT.OK;
  let extracted: { argv: string[]; url: string | undefined };
  try {
    extracted = extractUrl(rawArgv);
  } catch (error) {
    return report(output, error);
  }

  const program = new Command("pop3");
  program
    .description("A POP3 command-line client: read, delete and fetch mail, diagnose servers.")
    .usage("[options] <command> [url] [args]")
    .version(packageVersion(), "-V, --version", "print the version of pop3-cli")
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
    .option("--timeout <seconds>", "connect and greeting timeout", "30")
    .option("--json", "machine-readable output (JSON; NDJSON events for fetch)")
    .option("--trace", "print the protocol to stderr (passwords shown as ***)")
    .option("--no-color", "no colours (also: NO_COLOR, or output not a terminal)")
    .addHelpText("after", EXIT_CODES_HELP)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.stdout.write(text),
      writeErr: (text) => output.stderr.write(text),
    })
    .configureHelp({ showGlobalOptions: true });

  const context = async (command: Command): Promise<Context> => {
    const options = command.optsWithGlobals<GlobalOptions>();
    output = new Output({ json: options.json === true, color: options.color !== false, env });
    const config = await resolveConfig({
      flags: options,
      positionalUrl: extracted.url,
      env,
      output,
    });
    return { config, output, trace: options.trace === true, signal: new AbortController().signal };
  };
  const run = (body: (ctx: Context, command: Command) => Promise<ExitCode>) => {
    return async (...args: unknown[]): Promise<void> => {
      const command = args[args.length - 1] as Command;
      exitCode = await body(await context(command), command);
    };
  };
  const sub = (name: string, description: string): Command =>
    program
      .command(name)
      .description(description)
      .usage(`[options] [url]`)
      .configureHelp({ showGlobalOptions: true })
      .exitOverride();

  sub("capa", "show the server's capabilities (after STLS)")
    .option("--login", "log in first and show the capabilities after login")
    .action(run((ctx, cmd) => capaCommand(ctx, cmd.opts<{ login?: boolean }>())));

  sub("stat", "number of messages and total size").action(run((ctx) => statCommand(ctx)));

  sub("list", "message numbers and sizes")
    .usage("[options] [url] [msg]")
    .argument("[msg]", "only this message", messageNumber)
    .action(run((ctx, cmd) => listCommand(ctx, cmd.processedArgs[0] as number | undefined)));

  sub("uidl", "message numbers and unique ids")
    .usage("[options] [url] [msg]")
    .argument("[msg]", "only this message", messageNumber)
    .action(run((ctx, cmd) => uidlCommand(ctx, cmd.processedArgs[0] as number | undefined)));

  sub("retr", "write a message's raw bytes (CRLF, as the server sends them) to stdout or a file")
    .usage("[options] [url] <msg>")
    .argument("<msg>", "message number", messageNumber)
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(
      run((ctx, cmd) =>
        retrCommand(ctx, cmd.processedArgs[0] as number, cmd.opts<{ output?: string }>().output),
      ),
    );

  sub("top", "write a message's header and the first lines of its body")
    .usage("[options] [url] <msg> [lines]")
    .argument("<msg>", "message number", messageNumber)
    .argument("[lines]", "body lines (default 0: the header only)", count)
    .option("-o, --output <file>", "write to this file instead of stdout")
    .action(
      run((ctx, cmd) =>
        topCommand(
          ctx,
          cmd.processedArgs[0] as number,
          (cmd.processedArgs[1] as number | undefined) ?? 0,
          cmd.opts<{ output?: string }>().output,
        ),
      ),
    );

  sub("dele", "delete messages (DELE, then QUIT commits; all or nothing)")
    .usage("[options] [url] <msg...>")
    .argument("<msg...>", "message numbers", (value: string, previous: number[] | undefined) => [
      ...(previous ?? []),
      messageNumber(value),
    ])
    .action(run((ctx, cmd) => deleCommand(ctx, cmd.processedArgs[0] as number[])));

  declareFetchOptions(sub("fetch", "download new messages")).action(
    run((ctx, cmd) => fetchCommand(ctx, fetchOptionsOf(cmd))),
  );

  sub("doctor", "check a server's TLS, capabilities and login options, in plain words")
    .option("--no-login", "do not log in even when a password is known")
    .action(run((ctx, cmd) => doctorCommand(ctx, cmd.opts<{ login?: boolean }>())));

  sub("conformance", "run the RFC conformance suite (pop3-test-harness) against a server")
    .option("--only <ids>", "comma-separated check ids")
    .action(run((ctx, cmd) => conformanceCommand(ctx, cmd.opts<{ only?: string }>())));

  if (extracted.argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.USAGE;
  }
  const valueFlags = new Set<string>();
  for (const command of [program, ...program.commands]) {
    for (const option of command.options) {
      if (!option.required && !option.optional) continue;
      if (option.long !== undefined) valueFlags.add(option.long);
      if (option.short !== undefined) valueFlags.add(option.short);
    }
  }
  const stray = strayServerArgument(extracted.argv, (flag) => valueFlags.has(flag));
  if (stray !== undefined) return report(output, stray);
  try {
    await program.parseAsync(extracted.argv, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    return report(output, error);
  }
  return exitCode;
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
