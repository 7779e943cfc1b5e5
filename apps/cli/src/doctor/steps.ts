import type { ConnectionOptions, TLSSocket } from "node:tls";
import { serverIdentity } from "pop3-client";
import type { Capabilities, Greeting } from "pop3-core";
import { capabilityLines } from "../commands/basic";
import { CliError, EXIT, type ExitCode, toCliError } from "../errors";
import {
  answersTlsHandshake,
  type Context,
  openSession,
  plainGreeting,
  TLS_PORT_CHECK_MS,
  tlsPortError,
} from "../session";
import { ProbeConnection, ProbeError, type ProbeTarget } from "./probe";
import type { DoctorObservations, LoginReport, TlsReport } from "./report";
import { describeTls } from "./tls";

/** Where the probe connects, with the client's own rule for SNI and the certificate's name. */
export function probeTarget(context: Context): { target: ProbeTarget; name: string } {
  const { config, output } = context;
  const identity = serverIdentity(config.host, config.servername);
  const tls: ConnectionOptions = {
    host: config.host,
    rejectUnauthorized: false, // inspect even a certificate we would refuse; judged later
    ...identity.tlsOptions,
    ...(config.ca === undefined ? {} : { ca: config.ca.pem }),
  };
  const target: ProbeTarget = {
    host: config.host,
    port: config.port,
    implicitTls: config.tls === "implicit",
    tls,
    timeoutMs: config.timeoutMs,
    ...(context.trace ? { trace: (d, line) => output.trace(d, line) } : {}),
  };
  return { target, name: identity.name };
}

/** What one probe connection saw: greeting, CAPA, STLS, TLS, CAPA again. */
export interface SessionProbe {
  readonly greeting: Greeting;
  readonly beforeTls: { capabilities: Capabilities; lines: readonly string[] } | undefined;
  readonly afterTls: { capabilities: Capabilities; lines: readonly string[] } | undefined;
  readonly stls: DoctorObservations["stls"];
  readonly tls: TlsReport | null;
}

/** Step 1: one connection through pop3-core (it never logs in). Failures are CliErrors. */
export async function probeSession(
  context: Context,
  target: ProbeTarget,
  name: string,
): Promise<SessionProbe> {
  const { config } = context;
  const probe = await openProbe(context, target);
  let wrongPort: CliError | undefined;
  try {
    const greeting = await greetingOrTlsPort(probe, config, () => {
      wrongPort = tlsPortError(`${config.host}:${config.port}`);
    });
    let result: SessionProbe;
    if (config.tls === "implicit") {
      const tls = describeTls(probe.socket as TLSSocket, name);
      result = { greeting, beforeTls: undefined, afterTls: await probe.capa(), stls: null, tls };
    } else {
      const beforeTls = await probe.capa();
      result = { greeting, beforeTls, afterTls: undefined, stls: null, tls: null };
      // Try STLS when it is listed, or when there is no CAPA at all.
      const offered = beforeTls?.capabilities.has("STLS") ?? false;
      if (config.tls === "starttls" && (offered || beforeTls === undefined)) {
        const upgraded = await probe.stls();
        const socket = upgraded.socket;
        result = {
          ...result,
          stls: { offered, accepted: socket !== undefined },
          ...(socket === undefined
            ? {}
            : { tls: describeTls(socket, name), afterTls: await probe.capa() }),
        };
      } else if (config.tls === "starttls") {
        result = { ...result, stls: { offered: false, accepted: null } };
      }
    }
    await probe.quit();
    return result;
  } catch (error) {
    probe.close();
    throw wrongPort ?? probeFailure(error);
  }
}

/** The probe connection; `pop3s://` to a plain port is named rather than OpenSSL's text. */
async function openProbe(context: Context, target: ProbeTarget): Promise<ProbeConnection> {
  const { config } = context;
  try {
    return await ProbeConnection.open(target);
  } catch (error) {
    if (error instanceof ProbeError && error.code === "POP3_TLS" && target.implicitTls) {
      const greeting = await plainGreeting(config.host, config.port, TLS_PORT_CHECK_MS);
      if (greeting !== undefined) {
        throw new CliError(
          EXIT.CONNECTION,
          `${config.host}:${config.port} speaks plain POP3, not TLS (it greeted "${greeting}" in the clear): use pop3:// (STLS, or --tls starttls), or the implicit-TLS port (995) with pop3s://`,
          { code: "POP3_TLS", cause: error },
        );
      }
    }
    throw probeFailure(error);
  }
}

/**
 * The greeting; but when none came within TLS_PORT_CHECK_MS on a plain connection and the port
 * answers a TLS handshake, `onTlsPort` is called and the probe closed (so the wait ends), as
 * `openSession` does for the other commands.
 */
async function greetingOrTlsPort(
  probe: ProbeConnection,
  config: Context["config"],
  onTlsPort: () => void,
): Promise<Greeting> {
  if (config.tls === "implicit" || config.timeoutMs <= TLS_PORT_CHECK_MS) return probe.greeting();
  let settled = false;
  const timer = setTimeout(() => {
    void answersTlsHandshake(config.host, config.port, TLS_PORT_CHECK_MS).then((tls) => {
      if (!tls || settled) return;
      onTlsPort();
      probe.close();
    });
  }, TLS_PORT_CHECK_MS);
  try {
    return await probe.greeting();
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

/** A probe failure as a CliError with pop3-client's codes (never the bare "CONNECTION"). */
function probeFailure(error: unknown): CliError {
  if (error instanceof ProbeError) {
    return new CliError(EXIT.CONNECTION, error.message, { code: error.code, cause: error });
  }
  // pop3-core's protocol errors (a broken greeting or reply) carry their own code.
  const code = (error as { code?: unknown }).code;
  return new CliError(EXIT.CONNECTION, (error as Error).message, {
    code: typeof code === "string" ? code : "POP3_CONNECTION",
    cause: error,
  });
}

export interface LoginStep {
  readonly login: LoginReport;
  readonly afterLogin: Capabilities | undefined;
  readonly afterLoginLines: readonly string[] | null;
  /** The exit code of a failed login. */
  readonly exit: ExitCode | undefined;
}

/**
 * Step 3: log in with pop3-client, as the other commands do, for the capabilities after login;
 * only when the user and password are known (doctor never prompts) and the client would accept
 * the certificate (else it says why it did not try).
 */
export async function loginStep(
  context: Context,
  wanted: boolean,
  tls: TlsReport | null,
  pinMatches: boolean | undefined,
): Promise<LoginStep> {
  const { config } = context;
  const user = config.user ?? null;
  const credentialsKnown = config.user !== undefined && config.password !== undefined;
  const trusted = tls === null || tls.verified || config.insecure || pinMatches === true;
  const skipped: LoginReport["skipped"] = !wanted
    ? "disabled"
    : !credentialsKnown
      ? "no-password"
      : !trusted
        ? "untrusted-certificate"
        : null;
  if (skipped !== null) {
    const login = { attempted: false, skipped, user, ok: null, error: null };
    return { login, afterLogin: undefined, afterLoginLines: null, exit: undefined };
  }
  try {
    const client = await openSession(context, { login: true });
    const afterLogin = client.capabilityList;
    await client[Symbol.asyncDispose]();
    const login = { attempted: true, skipped: null, user, ok: true, error: null };
    return { login, afterLogin, afterLoginLines: capabilityLines(afterLogin), exit: undefined };
  } catch (error) {
    const problem = toCliError(error);
    const login = { attempted: true, skipped: null, user, ok: false, error: problem.message };
    return { login, afterLogin: undefined, afterLoginLines: null, exit: problem.exitCode };
  }
}
