import {
  type ConnectionOptions,
  checkServerIdentity,
  type PeerCertificate,
  type TLSSocket,
} from "node:tls";
import { serverIdentity } from "pop3-client";
import type { Capabilities, Greeting } from "pop3-core";
import { ProbeConnection, ProbeError, type ProbeTarget } from "../doctor/probe";
import { CliError, EXIT, type ExitCode, toCliError } from "../errors";
import { table } from "../output";
import {
  answersTlsHandshake,
  type Context,
  openSession,
  plainGreeting,
  TLS_PORT_CHECK_MS,
  tlsPortError,
} from "../session";
import { capabilityLines } from "./basic";

export type FindingLevel = "problem" | "warning" | "info";

export interface Finding {
  readonly level: FindingLevel;
  readonly id: string;
  readonly message: string;
}

export interface TlsReport {
  readonly protocol: string | null;
  readonly cipher: string;
  readonly certificate: {
    readonly subject: string;
    readonly issuer: string;
    readonly subjectAltName: string | null;
    readonly validFrom: string;
    readonly validTo: string;
    readonly daysLeft: number;
    readonly selfSigned: boolean;
    readonly fingerprint256: string;
  } | null;
  /** The chain is trusted (system roots, or --ca) and the name matches. */
  readonly verified: boolean;
  readonly verifyError: string | null;
  readonly hostnameMatches: boolean;
}

export interface DoctorReport {
  readonly target: { readonly host: string; readonly port: number; readonly tls: string };
  readonly greeting: string;
  readonly apop: boolean;
  readonly capabilities: {
    readonly beforeTls: readonly string[] | null;
    readonly afterTls: readonly string[] | null;
    readonly afterLogin: readonly string[] | null;
  };
  readonly stls: { readonly offered: boolean; readonly accepted: boolean | null } | null;
  readonly tls: TlsReport | null;
  /** Whether the server also completes a TLS 1.0/1.1 handshake. */
  readonly legacyTls: { readonly accepted: boolean; readonly protocol: string | null } | null;
  readonly loginMechanisms: readonly string[];
  readonly loginDelay: { readonly seconds: number; readonly perUser: boolean } | null;
  readonly expire: { readonly days: number | "NEVER"; readonly perUser: boolean } | null;
  readonly login: {
    readonly attempted: boolean;
    /** Why not, when not attempted. */
    readonly skipped: "no-password" | "untrusted-certificate" | "disabled" | null;
    readonly user: string | null;
    readonly ok: boolean | null;
    readonly error: string | null;
  };
  readonly findings: readonly Finding[];
}

const EXPIRY_WARNING_DAYS = 30;

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

export async function doctorCommand(
  context: Context,
  options: { login?: boolean },
): Promise<ExitCode> {
  const { config, output } = context;
  const findings: Finding[] = [];
  const add = (level: FindingLevel, id: string, message: string): void => {
    findings.push({ level, id, message });
  };
  // The client's own rule (SNI, and the name the certificate must match), so both agree.
  const identity = serverIdentity(config.host, config.servername);
  const tlsOptions: ConnectionOptions = {
    host: config.host,
    rejectUnauthorized: false, // inspect even a certificate we would refuse; judged below
    ...identity.tlsOptions,
    ...(config.ca === undefined ? {} : { ca: config.ca.pem }),
  };
  const target: ProbeTarget = {
    host: config.host,
    port: config.port,
    implicitTls: config.tls === "implicit",
    tls: tlsOptions,
    timeoutMs: config.timeoutMs,
    ...(context.trace ? { trace: (d, line) => output.trace(d, line) } : {}),
  };

  // 1. Greeting, CAPA, STLS, TLS details, CAPA again: one probe connection through pop3-core.
  let probe: ProbeConnection;
  try {
    probe = await ProbeConnection.open(target);
  } catch (error) {
    // pop3s:// to a plain port: say what the port speaks rather than OpenSSL's "wrong version".
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
  let greeting: Greeting;
  let wrongPort: CliError | undefined;
  let beforeTls: Capabilities | undefined;
  let beforeTlsLines: readonly string[] | null = null;
  let afterTls: Capabilities | undefined;
  let afterTlsLines: readonly string[] | null = null;
  let stls: DoctorReport["stls"] = null;
  let tls: TlsReport | null = null;
  try {
    greeting = await greetingOrTlsPort(probe, config, () => {
      wrongPort = tlsPortError(`${config.host}:${config.port}`);
    });
    if (config.tls === "implicit") {
      tls = describeTls(probe.socket as TLSSocket, identity.name);
      const caps = await probe.capa();
      afterTls = caps?.capabilities;
      afterTlsLines = caps?.lines ?? null;
    } else {
      const caps = await probe.capa();
      beforeTls = caps?.capabilities;
      beforeTlsLines = caps?.lines ?? null;
      if (config.tls === "starttls") {
        const offered = beforeTls?.has("STLS") ?? false;
        // Try STLS when it is listed, or when there is no CAPA at all.
        if (offered || beforeTls === undefined) {
          const result = await probe.stls();
          stls = { offered, accepted: result.socket !== undefined };
          if (result.socket !== undefined) {
            tls = describeTls(result.socket, identity.name);
            const after = await probe.capa();
            afterTls = after?.capabilities;
            afterTlsLines = after?.lines ?? null;
          }
        } else {
          stls = { offered: false, accepted: null };
        }
      }
    }
    await probe.quit();
  } catch (error) {
    probe.close();
    throw wrongPort ?? probeFailure(error);
  }

  // 2. Does the server also speak TLS 1.0/1.1? A second, throw-away handshake.
  let legacyTls: DoctorReport["legacyTls"] = null;
  if (tls !== null) legacyTls = await probeLegacyTls(target);

  // 3. Log in (only when the user and password are known: no prompt) for the CAPA after login.
  const current = afterTls ?? beforeTls;
  let afterLogin: Capabilities | undefined;
  let afterLoginLines: readonly string[] | null = null;
  const credentialsKnown = config.user !== undefined && config.password !== undefined;
  // pop3-client would refuse the certificate anyway: say so instead of failing the login.
  const untrusted = tls !== null && !tls.verified && !config.insecure;
  const wantLogin = options.login !== false && credentialsKnown && !untrusted;
  const skipped: DoctorReport["login"]["skipped"] =
    options.login === false
      ? "disabled"
      : !credentialsKnown
        ? "no-password"
        : untrusted
          ? "untrusted-certificate"
          : null;
  let login: DoctorReport["login"] = {
    attempted: false,
    skipped,
    user: config.user ?? null,
    ok: null,
    error: null,
  };
  let loginExit: ExitCode | undefined;
  if (options.login !== false && credentialsKnown && untrusted) {
    add(
      "info",
      "login-skipped",
      "not logged in: the certificate is not trusted (give --ca FILE, or --insecure)",
    );
  }
  if (wantLogin) {
    try {
      const client = await openSession(context, { login: true });
      afterLogin = client.capabilityList;
      afterLoginLines = capabilityLines(afterLogin);
      await client[Symbol.asyncDispose]();
      login = { attempted: true, skipped: null, user: config.user ?? null, ok: true, error: null };
    } catch (error) {
      const problem = toCliError(error);
      login = {
        attempted: true,
        skipped: null,
        user: config.user ?? null,
        ok: false,
        error: problem.message,
      };
      loginExit = problem.exitCode;
    }
  }

  // 4. Judge.
  const mechanisms = loginMechanisms(current, greeting);
  if (config.tls === "none") {
    add(
      "problem",
      "no-tls",
      "no TLS (--tls none): the password and every message cross the network in the clear",
    );
    if (beforeTls?.has("STLS"))
      add("info", "stls-available", "the server offers STLS: use --tls starttls");
  }
  if (config.tls === "starttls") {
    if (stls?.offered === false && stls.accepted !== true) {
      add(
        "problem",
        "no-stls",
        "the server does not offer STLS: there is no way to protect the connection on this port",
      );
    } else if (stls?.accepted === false) {
      add("problem", "stls-refused", "the server refused STLS");
    }
    if (beforeTls !== undefined) {
      const cleartext = [
        ...(beforeTls.has("USER") ? ["USER"] : []),
        ...beforeTls.saslMechanisms.filter((m) => m === "PLAIN" || m === "LOGIN"),
      ];
      if (cleartext.length > 0) {
        add(
          "warning",
          "cleartext-login-before-tls",
          `before TLS the server already offers ${cleartext.join(", ")}: a client that does not insist on STLS sends the password in the clear`,
        );
      }
    }
    if (afterTls?.has("STLS"))
      add("warning", "stls-after-tls", "STLS is still listed after TLS started (RFC 2595 §4)");
    if (tls !== null)
      add(
        "info",
        "prefer-implicit-tls",
        "RFC 8314 prefers implicit TLS (pop3s://, port 995) to STLS",
      );
  }
  if (tls !== null) {
    if (tls.protocol === null || !/^TLSv1\.[23]$/.test(tls.protocol)) {
      add(
        "problem",
        "old-tls",
        `TLS version ${tls.protocol ?? "unknown"}: 1.2 or newer is required (RFC 8314)`,
      );
    }
    if (legacyTls?.accepted) {
      add(
        "warning",
        "legacy-tls-accepted",
        `the server also accepts ${legacyTls.protocol ?? "TLS 1.0/1.1"}, which is obsolete (RFC 8996)`,
      );
    }
    const cert = tls.certificate;
    if (!tls.verified) {
      const hint = cert?.selfSigned ? " (self-signed: trust it with --ca FILE)" : "";
      add(
        "problem",
        "certificate-not-verified",
        `the certificate is not trusted: ${tls.verifyError ?? "unknown reason"}${hint}`,
      );
    }
    if (!tls.hostnameMatches) {
      add(
        "problem",
        "certificate-name-mismatch",
        `the certificate is not valid for ${identity.name}`,
      );
    }
    if (cert !== null) {
      if (cert.daysLeft < 0)
        add(
          "problem",
          "certificate-expired",
          `the certificate expired ${-cert.daysLeft} day(s) ago`,
        );
      else if (cert.daysLeft < EXPIRY_WARNING_DAYS)
        add(
          "warning",
          "certificate-expires-soon",
          `the certificate expires in ${cert.daysLeft} day(s) (${cert.validTo})`,
        );
    }
  }
  if (current === undefined) {
    add(
      "warning",
      "no-capa",
      "the server does not answer CAPA (RFC 2449): capabilities are unknown",
    );
  } else {
    if (!current.has("UIDL"))
      add(
        "warning",
        "no-uidl",
        "no UIDL: clients cannot tell new messages from old ones (pop3 fetch needs it)",
      );
    if (!current.has("TOP"))
      add(
        "warning",
        "no-top",
        "no TOP: clients cannot preview headers without downloading whole messages",
      );
    if (!current.has("PIPELINING"))
      add(
        "info",
        "no-pipelining",
        "no PIPELINING: every command waits for the previous answer (slower on long links)",
      );
    if (!current.has("RESP-CODES"))
      add(
        "info",
        "no-resp-codes",
        "no RESP-CODES: errors like [IN-USE] or [SYS/TEMP] cannot be told apart",
      );
  }
  if (greeting.apopTimestamp !== undefined) {
    add(
      "info",
      "apop",
      "APOP is offered: it relies on MD5 and a captured exchange can be brute-forced offline",
    );
  }
  const loginDelay = (afterLogin ?? current)?.get("LOGIN-DELAY");
  const expire = (afterLogin ?? current)?.get("EXPIRE");
  if (loginDelay !== undefined) {
    add(
      "info",
      "login-delay",
      `LOGIN-DELAY ${loginDelay.seconds}: at most one login every ${loginDelay.seconds} s${loginDelay.perUser && afterLogin === undefined ? " (may differ per user; log in to see yours)" : ""}`,
    );
  }
  if (expire !== undefined) {
    if (expire.days === 0) {
      add(
        "warning",
        "expire-0",
        "EXPIRE 0: the server deletes a message as soon as it is retrieved, whatever the client asks",
      );
    } else if (expire.days !== "NEVER") {
      add(
        "info",
        "expire",
        `EXPIRE ${expire.days}: the server deletes retrieved mail after ${expire.days} day(s)`,
      );
    }
  }
  if (login.attempted && login.ok === false)
    add("problem", "login-failed", login.error ?? "login failed");
  if (!login.attempted && options.login !== false && !credentialsKnown) {
    add(
      "info",
      "no-login",
      "not logged in (no password known): give one through POP3_PASSWORD or ~/.netrc to see the capabilities after login",
    );
  }

  const report: DoctorReport = {
    target: { host: config.host, port: config.port, tls: config.tls },
    greeting: greeting.text,
    apop: greeting.apopTimestamp !== undefined,
    capabilities: {
      beforeTls: beforeTlsLines,
      afterTls: afterTlsLines,
      afterLogin: afterLoginLines,
    },
    stls,
    tls,
    legacyTls,
    loginMechanisms: mechanisms,
    loginDelay:
      loginDelay === undefined
        ? null
        : { seconds: loginDelay.seconds, perUser: loginDelay.perUser },
    expire: expire === undefined ? null : { days: expire.days, perUser: expire.perUser },
    login,
    findings,
  };
  if (output.json) output.jsonDocument(report);
  else printReport(context, report);
  return loginExit ?? EXIT.OK;
}

function loginMechanisms(caps: Capabilities | undefined, greeting: Greeting): string[] {
  const list: string[] = [];
  if (caps === undefined || caps.has("USER")) list.push("USER");
  if (greeting.apopTimestamp !== undefined) list.push("APOP");
  for (const m of caps?.saslMechanisms ?? []) list.push(`SASL ${m}`);
  return list;
}

function describeTls(socket: TLSSocket, name: string): TlsReport {
  const peer = socket.getPeerCertificate(false) as PeerCertificate | Record<string, never>;
  const hasCert = "subject" in peer && peer.subject !== undefined;
  const cipher = socket.getCipher();
  let certificate: TlsReport["certificate"] = null;
  let hostnameMatches = false;
  if (hasCert) {
    const cert = peer as PeerCertificate;
    const validTo = new Date(cert.valid_to);
    certificate = {
      subject: distinguishedName(cert.subject),
      issuer: distinguishedName(cert.issuer),
      subjectAltName: cert.subjectaltname ?? null,
      validFrom: new Date(cert.valid_from).toISOString(),
      validTo: validTo.toISOString(),
      daysLeft: Math.floor((validTo.getTime() - Date.now()) / 86_400_000),
      selfSigned: distinguishedName(cert.subject) === distinguishedName(cert.issuer),
      fingerprint256: cert.fingerprint256,
    };
    hostnameMatches = checkServerIdentity(name, cert) === undefined;
  }
  const error = socket.authorizationError as unknown;
  return {
    protocol: socket.getProtocol(),
    cipher: cipher.standardName ?? cipher.name,
    certificate,
    verified: socket.authorized,
    verifyError: socket.authorized
      ? null
      : error instanceof Error
        ? error.message
        : String(error ?? "unknown"),
    hostnameMatches,
  };
}

function distinguishedName(fields: PeerCertificate["subject"] | undefined): string {
  if (fields === undefined) return "";
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join("+") : value}`)
    .join(", ");
}

async function probeLegacyTls(target: ProbeTarget): Promise<DoctorReport["legacyTls"]> {
  const legacy: ProbeTarget = {
    ...target,
    tls: {
      ...target.tls,
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
      ciphers: "DEFAULT:@SECLEVEL=0",
    },
  };
  const { trace: _trace, ...quiet } = legacy;
  try {
    const probe = await ProbeConnection.open(quiet);
    try {
      let socket: TLSSocket | undefined;
      await probe.greeting();
      if (target.implicitTls) socket = probe.socket as TLSSocket;
      else socket = (await probe.stls()).socket;
      const protocol = socket?.getProtocol() ?? null;
      return { accepted: socket !== undefined, protocol };
    } finally {
      probe.close();
    }
  } catch {
    return { accepted: false, protocol: null };
  }
}

const LEVEL_LABEL: Record<FindingLevel, [string, "red" | "yellow" | "cyan"]> = {
  problem: ["PROBLEM", "red"],
  warning: ["warning", "yellow"],
  info: ["note", "cyan"],
};

function printReport(context: Context, report: DoctorReport): void {
  const { output } = context;
  const paint = output.out;
  const heading = (text: string): void => {
    output.line();
    output.line(paint.paint("bold", text));
  };
  const mode =
    { implicit: "implicit TLS", starttls: "STLS", none: "no TLS" }[report.target.tls] ??
    report.target.tls;
  output.line(
    paint.paint("bold", `pop3 doctor: ${report.target.host}:${report.target.port} (${mode})`),
  );
  const rows: string[][] = [["greeting", report.greeting]];
  rows.push(["APOP", report.apop ? "offered (the greeting has a timestamp)" : "not offered"]);
  output.line(indent(table(rows)));

  if (report.capabilities.beforeTls !== null || report.target.tls !== "implicit") {
    heading(report.target.tls === "none" ? "Capabilities" : "Before TLS");
    output.line(indent(capaText(report.capabilities.beforeTls)));
  }
  if (report.tls !== null) {
    const tls = report.tls;
    heading(report.target.tls === "implicit" ? "TLS" : "TLS (after STLS)");
    const cert = tls.certificate;
    const tlsRows: string[][] = [
      ["version", `${tls.protocol ?? "?"}, cipher ${tls.cipher}`],
      [
        "verified",
        tls.verified
          ? paint.paint("green", "yes")
          : paint.paint("red", `no: ${tls.verifyError ?? ""}`),
      ],
    ];
    if (cert !== null) {
      tlsRows.push(["subject", cert.subject]);
      tlsRows.push(["issuer", `${cert.issuer}${cert.selfSigned ? " (self-signed)" : ""}`]);
      if (cert.subjectAltName !== null) tlsRows.push(["names", cert.subjectAltName]);
      tlsRows.push([
        "expires",
        `${cert.validTo} (${cert.daysLeft} day${cert.daysLeft === 1 ? "" : "s"} left)`,
      ]);
      tlsRows.push(["name matches", tls.hostnameMatches ? "yes" : paint.paint("red", "no")]);
    }
    if (report.legacyTls !== null) {
      tlsRows.push([
        "TLS 1.0/1.1",
        report.legacyTls.accepted
          ? paint.paint("yellow", `accepted (${report.legacyTls.protocol})`)
          : "refused",
      ]);
    }
    output.line(indent(table(tlsRows)));
    heading("After TLS");
    output.line(indent(capaText(report.capabilities.afterTls)));
  } else if (report.stls !== null) {
    heading("STLS");
    output.line(indent(report.stls.offered ? "offered but refused" : "not offered"));
  }
  heading("Login");
  const loginRows: string[][] = [
    ["mechanisms", report.loginMechanisms.join(", ") || "(none listed)"],
  ];
  loginRows.push([
    "LOGIN-DELAY",
    report.loginDelay === null
      ? "none"
      : `${report.loginDelay.seconds} s${report.loginDelay.perUser ? " (per user)" : ""}`,
  ]);
  loginRows.push([
    "EXPIRE",
    report.expire === null
      ? "not announced"
      : `${report.expire.days}${report.expire.days === "NEVER" ? "" : " day(s)"}${report.expire.perUser ? " (per user)" : ""}`,
  ]);
  if (report.login.attempted) {
    loginRows.push([
      "login",
      report.login.ok
        ? `ok as ${report.login.user}`
        : paint.paint(
            "red",
            `failed: ${(report.login.error ?? "").replace(/^login failed: /, "")}`,
          ),
    ]);
  } else {
    const why = {
      "no-password": "no password known",
      "untrusted-certificate": "certificate not trusted",
      disabled: "--no-login",
    }[report.login.skipped ?? "disabled"];
    loginRows.push(["login", `not tried (${why})`]);
  }
  output.line(indent(table(loginRows)));
  if (report.capabilities.afterLogin !== null) {
    heading("After login");
    output.line(indent(capaText(report.capabilities.afterLogin)));
  }
  heading("Findings");
  if (report.findings.length === 0)
    output.line(indent(paint.paint("green", "nothing wrong found")));
  const order: FindingLevel[] = ["problem", "warning", "info"];
  for (const level of order) {
    for (const finding of report.findings.filter((f) => f.level === level)) {
      const [label, color] = LEVEL_LABEL[level];
      output.line(indent(`${paint.paint(color, label.padEnd(7))}  ${finding.message}`));
    }
  }
}

function capaText(lines: readonly string[] | null): string {
  if (lines === null) return "(no CAPA)";
  return lines.join("\n");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}
