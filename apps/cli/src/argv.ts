import { readFileSync } from "node:fs";
import { isPop3Url, redactUrl } from "./config";
import { CliError, EXIT } from "./errors";

/** Reading the raw arguments before commander does: the URL, a stray server, the version. */

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
