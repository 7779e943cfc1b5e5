import { type Output, table } from "../output";
import type { DoctorReport, FindingLevel } from "./report";

const LEVEL_LABEL: Record<FindingLevel, [string, "red" | "yellow" | "cyan"]> = {
  problem: ["PROBLEM", "red"],
  warning: ["warning", "yellow"],
  info: ["note", "cyan"],
};

/** The report in plain words, for people. */
export function printReport(output: Output, report: DoctorReport): void {
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
      tlsRows.push(["pin-sha256", cert.pinSha256]);
      if (report.pin !== null) {
        tlsRows.push([
          "pinned",
          report.pin.matches
            ? paint.paint("green", "yes (--pin-sha256)")
            : paint.paint("red", "no: not the certificate --pin-sha256 names"),
        ]);
      }
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
