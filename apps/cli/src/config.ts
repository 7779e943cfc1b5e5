import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { LoginMechanism, Pop3Client } from "pop3-client";
import { z } from "zod";
import { CliError, EXIT, isNodeError } from "./errors";
import { findNetrcEntry, parseNetrc } from "./netrc";
import type { Output } from "./output";
import { parsePin } from "./pin";
import { promptPassword } from "./prompt";

export type TlsMode = "implicit" | "starttls" | "none";

/** Connection options as given on the command line (commander's parsed values). */
export interface ConnectionFlags {
  readonly url?: string;
  readonly host?: string;
  readonly port?: string;
  readonly user?: string;
  readonly password?: string;
  readonly tls?: string;
  readonly insecure?: boolean;
  readonly ca?: string;
  readonly allowCleartext?: boolean;
  readonly servername?: string;
  readonly timeout?: string;
  readonly mechanism?: string;
  /** --pin-sha256, repeatable (the new certificate's pin beside the old one while it changes). */
  readonly pinSha256?: readonly string[];
}

/** The login mechanisms `--mechanism` names (pop3-client's; USER is USER/PASS). */
export const MECHANISMS: readonly LoginMechanism[] = [
  "USER",
  "APOP",
  "PLAIN",
  "LOGIN",
  "CRAM-MD5",
  "XOAUTH2",
  "OAUTHBEARER",
];

type Field = "host" | "port" | "user" | "password" | "tls" | "ca";
type Values = Partial<Record<Field, string>>;

interface Layer {
  /** Where the values came from, for error messages: `--port`, `POP3_PORT`, `the URL`... */
  readonly describe: (field: Field) => string;
  readonly values: Values;
}

export interface ResolvedConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly insecure: boolean;
  /** The --ca file's path and contents. */
  readonly ca: { readonly path: string; readonly pem: string } | undefined;
  readonly allowCleartext: boolean;
  readonly servername: string | undefined;
  readonly timeoutMs: number;
  /** --mechanism: the one login mechanism to use (an error if the server does not offer it). */
  readonly mechanism: LoginMechanism | undefined;
  /** --pin-sha256: the certificate must be one of these (SHA-256 of the DER certificate). */
  readonly pins: readonly Buffer[];
  /**
   * Told of each connected client, before and after login: the daemon reads the server's
   * LOGIN-DELAY from its capabilities. (On the configuration, so it reaches every session that
   * a command such as runFetch opens with it.)
   */
  readonly onClient?: (client: Pop3Client) => void;
  /** Where each setting came from: `flag`, `url`, `env`, `POP3_URL`, `netrc`, `default`. */
  readonly sources: Readonly<Record<string, string>>;
}

const URL_SCHEMES: Record<string, TlsMode> = {
  "pop3:": "starttls",
  "pop:": "starttls",
  "pop3s:": "implicit",
  "pops:": "implicit",
};

/** True for what looks like a POP3 URL (used to pick it out of positional arguments). */
export function isPop3Url(value: string): boolean {
  return /^pop3?s?:\/\//i.test(value);
}

/** `pop3://user:pass@host:port` → values; the password is never echoed in errors. */
export function parsePop3Url(text: string, from: string): Values {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(EXIT.USAGE, `${from}: not a valid URL: ${redactUrl(text)}`);
  }
  const tls = URL_SCHEMES[url.protocol.toLowerCase()];
  if (tls === undefined) {
    throw new CliError(
      EXIT.USAGE,
      `${from}: the scheme must be pop3:// or pop3s://, not ${url.protocol}//`,
    );
  }
  if (url.pathname !== "" && url.pathname !== "/") {
    throw new CliError(EXIT.USAGE, `${from}: a POP3 URL has no path (mailbox): ${redactUrl(text)}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const values: Values = {
    tls,
    port: url.port === "" ? (tls === "implicit" ? "995" : "110") : url.port,
  };
  if (host !== "") values.host = host;
  if (url.username !== "") values.user = decode(url.username, from);
  if (url.password !== "") values.password = decode(url.password, from);
  return values;
}

function decode(part: string, from: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new CliError(EXIT.USAGE, `${from}: bad %-escape in the user or password`);
  }
}

/** The URL with its password replaced by `***`, for messages. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z0-9]+:\/\/[^/@:]*):[^/@]*@/i, "$1:***@");
}

function envLayer(env: NodeJS.ProcessEnv): Layer[] {
  const layers: Layer[] = [];
  const urlText = env["POP3_URL"];
  if (urlText !== undefined && urlText !== "") {
    layers.push({ describe: () => "POP3_URL", values: parsePop3Url(urlText, "POP3_URL") });
  }
  const values: Values = {};
  const names: Record<string, string> = {
    host: "POP3_HOST",
    port: "POP3_PORT",
    user: "POP3_USER",
    password: "POP3_PASSWORD",
    ca: "POP3_CA",
  };
  for (const [field, name] of Object.entries(names)) {
    const value = env[name];
    if (value !== undefined && value !== "") values[field as Field] = value;
  }
  layers.push({ describe: (field) => names[field] ?? "the environment", values });
  return layers;
}

const FLAG_NAMES: Record<Field, string> = {
  host: "--host",
  port: "--port",
  user: "--user",
  password: "--password",
  tls: "--tls",
  ca: "--ca",
};

function nonEmpty(message: string) {
  return z.string({ error: message }).min(1, { error: message });
}

const schema = z.object({
  host: nonEmpty("no server given: use a URL (pop3://user@host), --host or POP3_HOST")
    .regex(/^[^\s/@]+$/, { error: "not a host name" })
    // Host names are case-insensitive: one spelling for the fetch state and Maildir names.
    .transform((host) => host.toLowerCase()),
  port: z
    .string()
    .regex(/^\d+$/, { error: "must be a number from 1 to 65535" })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1, { error: "must be from 1 to 65535" })
        .max(65535, { error: "must be from 1 to 65535" }),
    ),
  tls: z.enum(["implicit", "starttls", "none"], {
    error: "must be one of implicit, starttls, none",
  }),
  user: z.string().min(1, { error: "must not be empty" }).optional(),
  password: z.string().optional(),
  ca: z.string().min(1).optional(),
  servername: z.string().min(1, { error: "must not be empty" }).optional(),
  timeout: z
    .string()
    .regex(/^\d+(\.\d+)?$/, { error: "must be a number of seconds" })
    .transform(Number)
    .pipe(z.number().positive({ error: "must be more than 0 seconds" })),
  mechanism: z
    .string()
    .transform((name) => name.toUpperCase())
    .pipe(
      z.enum(MECHANISMS as [LoginMechanism, ...LoginMechanism[]], {
        error: `must be one of ${MECHANISMS.join(", ")}`,
      }),
    )
    .optional(),
});

export interface ResolveOptions {
  readonly flags: ConnectionFlags;
  /** A URL given as a positional argument. */
  readonly positionalUrl: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
  /**
   * The settings are an account of a config file, given as `flags`: `describe` names each one
   * for messages (`accounts.work.port in pop3.toml`), and POP3_* variables do not apply.
   */
  readonly account?: { readonly describe: (field: string) => string };
}

/**
 * Merges the sources, highest first: flags, the URL argument, POP3_HOST/POP3_PORT/POP3_USER/
 * POP3_PASSWORD, POP3_URL, then ~/.netrc for the user and password of the chosen host. Validated
 * with zod; errors name the setting and where it came from.
 */
export async function resolveConfig(options: ResolveOptions): Promise<ResolvedConfig> {
  const { flags, env, output } = options;
  const { merged, sources } = mergeLayers(options);
  const describe = (field: string): string | undefined =>
    sources[field] ?? options.account?.describe(field) ?? `--${field}`;
  const tls = merged.tls ?? "starttls";
  const raw = {
    host: merged.host,
    port: merged.port ?? (tls === "implicit" ? "995" : "110"),
    tls,
    user: merged.user,
    password: merged.password,
    ca: merged.ca,
    servername: flags.servername,
    timeout: flags.timeout ?? "30",
    mechanism: flags.mechanism,
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const field = String(issue.path[0] ?? "");
      const shown = field === "password" ? "" : describeValue(raw[field as keyof typeof raw]);
      return `${field} (from ${describe(field)}): ${issue.message}${shown}`;
    });
    throw new CliError(EXIT.USAGE, `invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const config = parsed.data;
  const login = await completeFromNetrc(env, config, sources, output);
  const pins = (flags.pinSha256 ?? []).map((pin) => parsePin(pin, describe("pin-sha256") ?? ""));
  sources["port"] ??= "default";
  sources["tls"] ??= "default";
  return {
    host: config.host,
    port: config.port,
    tls: config.tls,
    user: login.user,
    password: login.password,
    insecure: flags.insecure === true,
    ca: config.ca === undefined ? undefined : await readCa(config.ca, describe("ca") ?? "--ca"),
    allowCleartext: flags.allowCleartext === true,
    servername: config.servername,
    timeoutMs: Math.round(config.timeout * 1000),
    mechanism: config.mechanism,
    pins,
    sources,
  };
}

/** The layers in rising precedence, merged; and where each merged value came from. */
function mergeLayers(options: ResolveOptions): {
  merged: Values;
  sources: Record<string, string>;
} {
  const { flags, output, account } = options;
  if (options.positionalUrl !== undefined && flags.url !== undefined) {
    throw new CliError(EXIT.USAGE, "give the URL either as an argument or with --url, not both");
  }
  const layers: Layer[] = account === undefined ? envLayer(options.env) : [];
  const urlText = options.positionalUrl ?? flags.url;
  let urlLayer: Layer | undefined;
  if (urlText !== undefined) {
    const from =
      account?.describe("url") ?? (options.positionalUrl !== undefined ? "the URL" : "--url");
    urlLayer = { describe: () => from, values: parsePop3Url(urlText, from) };
    layers.push(urlLayer);
  }
  const flagValues: Values = {};
  for (const field of Object.keys(FLAG_NAMES) as Field[]) {
    const value = flags[field];
    if (value !== undefined) flagValues[field] = value;
  }
  layers.push({
    describe: (field) => account?.describe(field) ?? FLAG_NAMES[field],
    values: flagValues,
  });

  const merged: Values = {};
  const sources: Record<string, string> = {};
  for (const layer of layers) {
    for (const [field, value] of Object.entries(layer.values) as [Field, string][]) {
      merged[field] = value;
      sources[field] = layer.describe(field);
    }
  }
  // A password typed into argv (a flag or the URL argument) is visible in `ps` and shell history.
  if (account === undefined && flagValues.password !== undefined) {
    output.warn(
      "--password is visible to other users (ps, shell history); prefer the prompt, POP3_PASSWORD or ~/.netrc",
    );
  }
  if (account === undefined && urlLayer?.values.password !== undefined) {
    output.warn(
      "a password in the URL is visible to other users (ps, shell history); prefer the prompt, POP3_PASSWORD or ~/.netrc",
    );
  }
  return { merged, sources };
}

/** The user and password, each taken from ~/.netrc when not given (the password only for the user). */
async function completeFromNetrc(
  env: NodeJS.ProcessEnv,
  config: { host: string; user?: string | undefined; password?: string | undefined },
  sources: Record<string, string>,
  output: Output,
): Promise<{ user: string | undefined; password: string | undefined }> {
  let user = config.user;
  let password = config.password;
  if (password !== undefined && user !== undefined) return { user, password };
  const fromNetrc = await lookupNetrc(env, config.host, user, output);
  if (fromNetrc === undefined) return { user, password };
  if (user === undefined && fromNetrc.login !== undefined) {
    user = fromNetrc.login;
    sources["user"] = "netrc";
  }
  if (
    password === undefined &&
    fromNetrc.password !== undefined &&
    fromNetrc.login !== undefined &&
    fromNetrc.login === user
  ) {
    password = fromNetrc.password;
    sources["password"] = "netrc";
  }
  return { user, password };
}

/** The --ca file, refused when it is not a PEM certificate. */
async function readCa(path: string, from: string): Promise<{ path: string; pem: string }> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (error) {
    throw new CliError(
      EXIT.USAGE,
      `ca (from ${from}): cannot read ${path}: ${isNodeError(error) ? error.code : String(error)}`,
    );
  }
  const problem = pemProblem(pem);
  if (problem !== undefined) {
    throw new CliError(
      EXIT.USAGE,
      `ca (from ${from}): ${path} is not a PEM certificate: ${problem}`,
    );
  }
  return { path, pem };
}

/**
 * Why `text` is not a usable PEM certificate file, or undefined when it is. Node would otherwise
 * take any file silently (a DER file, a key, a typo'd path to some text) and the user would only
 * see "self-signed certificate" at the handshake, blaming the server.
 */
export function pemProblem(text: string): string | undefined {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) {
    if (text.includes("\ufffd")) {
      return "it looks binary (DER?); convert it with: openssl x509 -inform der -in FILE -out FILE.pem";
    }
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
      return "it holds a private key, not a certificate";
    }
    return 'no "-----BEGIN CERTIFICATE-----" block in it';
  }
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `certificate ${i + 1} of ${blocks.length} cannot be parsed (${(error as Error).message})`;
    }
  }
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "";
  return `, got ${JSON.stringify(value)}`;
}

async function lookupNetrc(
  env: NodeJS.ProcessEnv,
  host: string,
  user: string | undefined,
  output: Output,
): Promise<{ login?: string; password?: string } | undefined> {
  const path =
    env["NETRC"] !== undefined && env["NETRC"] !== "" ? env["NETRC"] : join(homedir(), ".netrc");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isNodeError(error) && (error.code === "ENOENT" || error.code === "ENOTDIR"))
      return undefined;
    output.warn(`cannot read ${path}: ${isNodeError(error) ? error.code : String(error)}`);
    return undefined;
  }
  const entry = findNetrcEntry(parseNetrc(text), host, user);
  if (entry?.password !== undefined) {
    const mode = (await stat(path)).mode;
    if ((mode & 0o077) !== 0) {
      output.warn(`${path} holds passwords and can be read by others: chmod 600 ${path}`);
    }
  }
  if (entry === undefined) return undefined;
  return {
    ...(entry.login === undefined ? {} : { login: entry.login }),
    ...(entry.password === undefined ? {} : { password: entry.password }),
  };
}

/** The user and password for a login; asks on the terminal when the password is missing. */
export async function credentials(
  config: ResolvedConfig,
  output: Output,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<{ user: string; password: string }> {
  const user = config.user;
  if (user === undefined) {
    throw new CliError(
      EXIT.USAGE,
      "no user given: use pop3://user@host, --user, POP3_USER or a login in ~/.netrc",
    );
  }
  if (config.password !== undefined) return { user, password: config.password };
  if (stdin.isTTY !== true) {
    throw new CliError(
      EXIT.USAGE,
      `no password for ${user}@${config.host}: set POP3_PASSWORD, add it to ~/.netrc, or run on a terminal to be asked`,
    );
  }
  const password = await promptPassword(
    `Password for ${user}@${config.host}: `,
    stdin,
    output.stderr,
  );
  return { user, password };
}
