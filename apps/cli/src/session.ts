import { isIP, connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import {
  ClientError,
  type ClientOptions,
  connect,
  type LoginMechanism,
  type Pop3Client,
  serverIdentity,
} from "pop3-client";
import { credentials, type ResolvedConfig } from "./config";
import { authError, CliError, EXIT, toCliError } from "./errors";
import type { Output } from "./output";
import { pinError, pinMatches, pinOfFingerprint } from "./pin";

export interface Context {
  readonly config: ResolvedConfig;
  readonly output: Output;
  readonly trace: boolean;
  readonly signal: AbortSignal;
  /** pop3-client options that override the ones made here (fetch: onSizeMismatch, onWarning). */
  readonly client?: Partial<ClientOptions>;
}

/** pop3-client's options for the resolved configuration. */
export function clientOptions(context: Context): ClientOptions {
  const { config, output } = context;
  const tlsOptions: NonNullable<ClientOptions["tlsOptions"]> = {
    // A pinned certificate is trusted by its pin, checked before login (see connectExplained).
    rejectUnauthorized: !config.insecure && config.pins.length === 0,
    minVersion: "TLSv1.2",
    ...(config.ca === undefined ? {} : { ca: config.ca.pem }),
    ...(config.servername === undefined ? {} : { servername: config.servername }),
  };
  return {
    host: config.host,
    port: config.port,
    tls: config.tls,
    allowCleartext: config.allowCleartext,
    tlsOptions,
    timeouts: {
      connect: config.timeoutMs,
      greeting: config.timeoutMs,
      command: Math.max(config.timeoutMs, 60_000),
      idle: 0,
    },
    signal: context.signal,
    // E.g. a message without final newline, accepted with the CRLF the server added.
    onWarning: (warning: Error) => output.warn(warning.message),
    ...(context.trace
      ? {
          trace: (event: { direction: "send" | "receive"; line: string }) =>
            output.trace(event.direction, event.line),
        }
      : {}),
    ...context.client,
  };
}

/** Connects (STLS by default) and, when `login` is set, logs in; errors become CliErrors. */
export async function openSession(
  context: Context,
  options: { login: boolean },
): Promise<Pop3Client> {
  const { config, output } = context;
  // Ask for the password before dialling, so a slow typist does not hit the greeting timeout.
  const login = options.login ? await credentials(config, output) : undefined;
  const client = await connectExplained(context);
  config.onClient?.(client);
  output.detail(`connected to ${config.host}:${config.port}: ${describeConnection(client)}`);
  if (!client.secure && config.tls !== "none" && config.allowCleartext) {
    output.warn(`${config.host} offers no STLS: continuing without TLS (--allow-cleartext)`);
  }
  if (login !== undefined) {
    if (!client.secure && !isLoopback(config.host)) {
      output.warn("logging in without TLS: the password may be sent in the clear");
    }
    try {
      await client.login(loginOptions(client, config, login, context.signal));
    } catch (error) {
      client.close();
      throw authError(error);
    }
    config.onClient?.(client);
    output.detail(
      `logged in as ${login.user}${config.mechanism === undefined ? "" : ` with ${config.mechanism}`}`,
    );
  }
  return client;
}

/** `TLSv1.3 (TLS_AES_256_GCM_SHA384), certificate pin-sha256 …` or `no TLS`, for --verbose. */
function describeConnection(client: Pop3Client): string {
  const tls = client.secure ? client.tlsInfo : undefined;
  if (tls === undefined) return "no TLS";
  const fingerprint = tls.certificate?.fingerprint256;
  return `${tls.protocol ?? "TLS"} (${tls.cipher})${fingerprint === undefined ? "" : `, certificate pin-sha256 ${pinOfFingerprint(fingerprint)}`}`;
}

/**
 * pop3-client's login options. With --mechanism, that mechanism or an error (before anything is
 * sent) when the server does not offer it; for XOAUTH2 and OAUTHBEARER the password is the access
 * token (a passwordCommand can print a fresh one).
 */
function loginOptions(
  client: Pop3Client,
  config: ResolvedConfig,
  login: { user: string; password: string },
  signal: AbortSignal,
): Parameters<Pop3Client["login"]>[0] {
  const mechanism = config.mechanism;
  if (mechanism === undefined) return { user: login.user, password: login.password, signal };
  if (!offers(client, mechanism)) {
    throw new CliError(
      EXIT.AUTH,
      `login failed: the server does not offer ${mechanism} (--mechanism); it offers ${offeredMechanisms(client).join(", ") || "none"}`,
      { code: "POP3_MECHANISM_UNAVAILABLE" },
    );
  }
  const oauth = mechanism === "XOAUTH2" || mechanism === "OAUTHBEARER";
  return {
    user: login.user,
    ...(oauth ? { token: login.password } : { password: login.password }),
    mechanism,
    signal,
  };
}

/** USER: listed in CAPA (or no CAPA at all: RFC 1939 servers); APOP: a greeting timestamp. */
function offers(client: Pop3Client, mechanism: LoginMechanism): boolean {
  const caps = client.capabilityList;
  if (mechanism === "USER") return caps.has("USER") || caps.list.length === 0;
  if (mechanism === "APOP") return client.greeting.apopTimestamp !== undefined;
  return caps.saslMechanisms.includes(mechanism);
}

function offeredMechanisms(client: Pop3Client): string[] {
  const all: LoginMechanism[] = ["USER", "APOP"];
  return [...all.filter((m) => offers(client, m)), ...client.capabilityList.saslMechanisms];
}

/**
 * How long `pop3://` waits for a greeting before checking whether the port speaks TLS instead. A
 * POP3 server greets at once; an implicit-TLS port (995) says nothing and waits for a ClientHello,
 * which would otherwise cost the whole --timeout (30 s) and end in "no greeting".
 */
export const TLS_PORT_CHECK_MS = 3000;

/**
 * pop3-client's connect, with the two wrong-port mistakes explained instead of raw OpenSSL text
 * or a 30 s wait: `pop3s://` to a plain POP3 port, and `pop3://` to an implicit-TLS port. Each is
 * confirmed with a second, short connection before the message claims what the port speaks.
 */
export async function connectExplained(context: Context): Promise<Pop3Client> {
  const { config } = context;
  const where = `${config.host}:${config.port}`;
  const wrongPort = new AbortController();
  let diagnosis: CliError | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (config.tls !== "implicit" && config.timeoutMs > TLS_PORT_CHECK_MS) {
    timer = setTimeout(() => {
      void answersTlsHandshake(config.host, config.port, TLS_PORT_CHECK_MS).then((tls) => {
        if (!tls || wrongPort.signal.aborted) return;
        diagnosis = tlsPortError(where);
        wrongPort.abort(diagnosis);
      });
    }, TLS_PORT_CHECK_MS);
  }
  try {
    const client = await connect({
      ...clientOptions(context),
      signal: AbortSignal.any([context.signal, wrongPort.signal]),
    });
    checkPin(client, config);
    return client;
  } catch (error) {
    if (diagnosis !== undefined) throw diagnosis;
    if (
      config.tls === "implicit" &&
      error instanceof ClientError &&
      error.code === "POP3_TLS" &&
      // A certificate problem means the handshake worked: the port does speak TLS.
      !/certificate|self.signed|unable to verify|does not match/i.test(error.message)
    ) {
      const greeting = await plainGreeting(config.host, config.port, TLS_PORT_CHECK_MS);
      if (greeting !== undefined) {
        throw new CliError(
          EXIT.CONNECTION,
          `${where} speaks plain POP3, not TLS (it greeted "${greeting}" in the clear): use pop3:// (STLS, or --tls starttls), or the implicit-TLS port (995) with pop3s://`,
          { code: "POP3_TLS", cause: error },
        );
      }
    }
    throw toCliError(error);
  } finally {
    clearTimeout(timer);
    // Stop a pending check from aborting a client that has connected meanwhile.
    if (!wrongPort.signal.aborted) wrongPort.abort();
  }
}

/**
 * With --pin-sha256, the connection's certificate must be a pinned one: checked right after
 * connecting, before any login, and the connection dropped otherwise. (pop3-client takes no pin,
 * so the handshake itself completes; only the greeting and CAPA have been exchanged.)
 */
function checkPin(client: Pop3Client, config: ResolvedConfig): void {
  if (config.pins.length === 0) return;
  const fingerprint = client.secure ? client.tlsInfo?.certificate?.fingerprint256 : undefined;
  if (fingerprint !== undefined && pinMatches(config.pins, fingerprint)) return;
  client.close();
  throw pinError(
    `${config.host}:${config.port}`,
    fingerprint === undefined ? undefined : pinOfFingerprint(fingerprint),
  );
}

/** `pop3://` to a port that waits for a TLS ClientHello instead of greeting. */
export function tlsPortError(where: string): CliError {
  return new CliError(
    EXIT.CONNECTION,
    `no greeting from ${where} within ${TLS_PORT_CHECK_MS / 1000} s, and the port answers a TLS handshake: it is an implicit-TLS port (like 995); use pop3s:// (or --tls implicit), or the plain POP3 port (110) with pop3://`,
    { code: "POP3_TIMEOUT" },
  );
}

/** The first line a port sends unprompted, when it looks like a POP3 greeting (+OK / -ERR). */
export function plainGreeting(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    let received = "";
    const done = (line: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
      const end = received.indexOf("\n");
      if (end === -1 && received.length < 512) return;
      const line = (end === -1 ? received : received.slice(0, end)).replace(/\r$/, "");
      done(/^(\+OK|-ERR)\b/.test(line) ? line.slice(0, 80) : undefined);
    });
    socket.on("error", () => done(undefined));
    socket.on("close", () => done(undefined));
  });
}

/**
 * Whether the port completes a TLS handshake (the certificate is not judged: this only asks
 * which protocol the port speaks, and nothing is sent over it).
 */
export function answersTlsHandshake(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      // pop3-client's rule for the name sent as SNI (none for an IP address).
      ...serverIdentity(host).tlsOptions,
    });
    const done = (tls: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(tls);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
