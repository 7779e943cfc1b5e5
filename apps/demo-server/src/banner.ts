import { isIP } from "node:net";
import { join } from "node:path";

/**
 * What the demo prints once it listens. Every command in "Connect with" and "Add mail" must work
 * when pasted as printed into a shell at the repository root (scripts/first-five-minutes.sh runs
 * each one on a fresh clone), so paths are quoted and nothing needs a terminal.
 */
export interface BannerInput {
  host: string;
  plainPort: number | undefined;
  tlsPort: number | undefined;
  dataDir: string;
  /** The folder `pnpm demo` runs in; its `data/` is the default data folder. */
  repoRoot: string;
  /** Extra lines (workers) after the addresses. */
  extra: string;
  loopback: boolean;
}

/** A word for sh, bash and zsh: as is when it holds only safe characters, else single-quoted. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A double-quoted sh word (for a program text that itself uses single quotes). */
function shellDoubleQuote(text: string): string {
  return `"${text.replace(/["\\$`]/g, (c) => `\\${c}`)}"`;
}

function pythonString(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export function banner(input: BannerInput): string {
  const { host, plainPort: p, tlsPort: s } = input;
  const certPath = join(input.dataDir, "tls", "cert.pem");
  const ca = shellQuote(certPath);
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  const poplib = `import poplib,ssl; c=poplib.POP3_SSL(${pythonString(host)},${s},context=ssl.create_default_context(cafile=${pythonString(certPath)})); c.user('alice'); c.pass_('alice'); print(c.stat()); c.quit()`;
  // `pnpm demo deliver` runs at the repository root, where the default data folder is; a server
  // started with another one (POP3_DEMO_DATA, a config file) is named explicitly.
  const dataEnv =
    input.dataDir === join(input.repoRoot, "data")
      ? ""
      : `POP3_DEMO_DATA=${shellQuote(input.dataDir)} `;
  const note = input.loopback
    ? ""
    : "\n  note          not loopback: cleartext logins are refused, use STLS or TLS";
  return `
POP3 demo server ready
  plain + STLS  ${host}:${p}
  implicit TLS  ${host}:${s}
${input.extra}  users         alice / alice (12 messages), bob / bob
  data          ${input.dataDir}${note}

Connect with (from the repository root):
  the CLI        POP3_PASSWORD=alice pnpm pop3 list pop3://alice@${urlHost}:${p} --ca ${ca}
  curl (STLS)    curl --ssl-reqd --cacert ${ca} pop3://alice:alice@${urlHost}:${p}/1
  curl (TLS)     curl --cacert ${ca} pop3s://alice:alice@${urlHost}:${s}/
  Python poplib  python3 -c ${shellDoubleQuote(poplib)}
Add mail (a message on stdin with -, or a file name):
  deliver        printf 'Subject: hello\\r\\n\\r\\nhi alice\\r\\n' | ${dataEnv}pnpm demo deliver alice -
Stop with Ctrl-C (sessions end without deleting anything that was not QUIT).
`;
}
