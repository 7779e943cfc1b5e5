import { isIP } from "node:net";
import { type ClientOptions, connect, type Pop3Client } from "pop3-client";
import { credentials, type ResolvedConfig } from "./config";
import { authError, toCliError } from "./errors";
import type { Output } from "./output";

export interface Context {
  readonly config: ResolvedConfig;
  readonly output: Output;
  readonly trace: boolean;
  readonly signal: AbortSignal;
}

/** pop3-client's options for the resolved configuration. */
export function clientOptions(context: Context): ClientOptions {
  const { config, output } = context;
  const tlsOptions: NonNullable<ClientOptions["tlsOptions"]> = {
    rejectUnauthorized: !config.insecure,
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
  let client: Pop3Client;
  try {
    client = await connect(clientOptions(context));
  } catch (error) {
    throw toCliError(error);
  }
  if (!client.secure && config.tls !== "none" && config.allowCleartext) {
    output.warn(`${config.host} offers no STLS: continuing without TLS (--allow-cleartext)`);
  }
  if (login !== undefined) {
    if (!client.secure && !isLoopback(config.host)) {
      output.warn("logging in without TLS: the password may be sent in the clear");
    }
    try {
      await client.login({ user: login.user, password: login.password, signal: context.signal });
    } catch (error) {
      client.close();
      throw authError(error);
    }
  }
  return client;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
