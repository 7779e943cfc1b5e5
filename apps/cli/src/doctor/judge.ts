import { type Capabilities, parseCapabilities } from "pop3-core";
import type { DoctorObservations, Finding, FindingLevel, TlsReport } from "./report";

const EXPIRY_WARNING_DAYS = 30;

/**
 * The findings for what the probe steps observed: pure, no I/O, so each rule is tested on a
 * hand-made report. The order is the order of the rules below; printing groups them by level.
 */
export function judge(report: DoctorObservations): Finding[] {
  const findings: Finding[] = [];
  const add = (level: FindingLevel, id: string, message: string): void => {
    findings.push({ level, id, message });
  };
  const beforeTls = capabilities(report.capabilities.beforeTls);
  const afterTls = capabilities(report.capabilities.afterTls);
  judgeTransport(report, beforeTls, afterTls, add);
  if (report.tls !== null) judgeTls(report.tls, report, add);
  judgeCapabilities(afterTls ?? beforeTls, report.apop, add);
  judgeLogin(report, add);
  return findings;
}

type Add = (level: FindingLevel, id: string, message: string) => void;

function capabilities(lines: readonly string[] | null): Capabilities | undefined {
  return lines === null ? undefined : parseCapabilities(lines);
}

/** Is there TLS at all, and does the server tempt clients to log in without it? */
function judgeTransport(
  report: DoctorObservations,
  beforeTls: Capabilities | undefined,
  afterTls: Capabilities | undefined,
  add: Add,
): void {
  const { stls } = report;
  if (report.target.tls === "none") {
    add(
      "problem",
      "no-tls",
      "no TLS (--tls none): the password and every message cross the network in the clear",
    );
    if (beforeTls?.has("STLS"))
      add("info", "stls-available", "the server offers STLS: use --tls starttls");
    return;
  }
  if (report.target.tls !== "starttls") return;
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
  if (report.tls !== null)
    add(
      "info",
      "prefer-implicit-tls",
      "RFC 8314 prefers implicit TLS (pop3s://, port 995) to STLS",
    );
}

/** Version, trust, name, expiry and pin of the TLS connection. */
function judgeTls(tls: TlsReport, report: DoctorObservations, add: Add): void {
  if (tls.protocol === null || !/^TLSv1\.[23]$/.test(tls.protocol)) {
    add(
      "problem",
      "old-tls",
      `TLS version ${tls.protocol ?? "unknown"}: 1.2 or newer is required (RFC 8314)`,
    );
  }
  if (report.legacyTls?.accepted) {
    add(
      "warning",
      "legacy-tls-accepted",
      `the server also accepts ${report.legacyTls.protocol ?? "TLS 1.0/1.1"}, which is obsolete (RFC 8996)`,
    );
  }
  const cert = tls.certificate;
  // A matching pin is the trust: the chain and the name no longer matter (as for pop3 fetch).
  const pinned = report.pin?.matches === true;
  if (pinned && (!tls.verified || !tls.hostnameMatches)) {
    add(
      "info",
      "certificate-pinned",
      `the certificate is not trusted by a CA (${tls.verifyError ?? "name mismatch"}), but it is the pinned one (--pin-sha256)`,
    );
  }
  if (!tls.verified && !pinned) {
    const hint = cert?.selfSigned ? " (self-signed: trust it with --ca FILE or --pin-sha256)" : "";
    add(
      "problem",
      "certificate-not-verified",
      `the certificate is not trusted: ${tls.verifyError ?? "unknown reason"}${hint}`,
    );
  }
  if (!tls.hostnameMatches && !pinned) {
    add("problem", "certificate-name-mismatch", `the certificate is not valid for ${tls.name}`);
  }
  if (report.pin?.matches === false) {
    add(
      "problem",
      "pin-mismatch",
      `the certificate is not the pinned one (--pin-sha256): its pin-sha256 is ${cert?.pinSha256 ?? "unknown"}`,
    );
  }
  if (cert === null) return;
  if (cert.daysLeft < 0) {
    add("problem", "certificate-expired", `the certificate expired ${-cert.daysLeft} day(s) ago`);
  } else if (cert.daysLeft < EXPIRY_WARNING_DAYS) {
    add(
      "warning",
      "certificate-expires-soon",
      `the certificate expires in ${cert.daysLeft} day(s) (${cert.validTo})`,
    );
  }
}

/** What clients miss when a capability is absent. */
function judgeCapabilities(current: Capabilities | undefined, apop: boolean, add: Add): void {
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
  if (apop) {
    add(
      "info",
      "apop",
      "APOP is offered: it relies on MD5 and a captured exchange can be brute-forced offline",
    );
  }
}

/** LOGIN-DELAY, EXPIRE and how the login went (or why it was not tried). */
function judgeLogin(report: DoctorObservations, add: Add): void {
  const { loginDelay, expire, login } = report;
  const loggedIn = report.capabilities.afterLogin !== null;
  if (loginDelay !== null) {
    add(
      "info",
      "login-delay",
      `LOGIN-DELAY ${loginDelay.seconds}: at most one login every ${loginDelay.seconds} s${loginDelay.perUser && !loggedIn ? " (may differ per user; log in to see yours)" : ""}`,
    );
  }
  if (expire?.days === 0) {
    add(
      "warning",
      "expire-0",
      "EXPIRE 0: the server deletes a message as soon as it is retrieved, whatever the client asks",
    );
  } else if (expire !== null && expire.days !== "NEVER") {
    add(
      "info",
      "expire",
      `EXPIRE ${expire.days}: the server deletes retrieved mail after ${expire.days} day(s)`,
    );
  }
  if (login.attempted && login.ok === false) {
    add("problem", "login-failed", login.error ?? "login failed");
  }
  if (login.skipped === "untrusted-certificate") {
    add(
      "info",
      "login-skipped",
      "not logged in: the certificate is not trusted (give --ca FILE, or --insecure)",
    );
  }
  if (login.skipped === "no-password") {
    add(
      "info",
      "no-login",
      "not logged in (no password known): give one through POP3_PASSWORD or ~/.netrc to see the capabilities after login",
    );
  }
}
