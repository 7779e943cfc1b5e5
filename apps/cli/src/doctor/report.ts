/** What `pop3 doctor` found: the observations of the probe steps, then the judge's findings. */

export type FindingLevel = "problem" | "warning" | "info";

export interface Finding {
  readonly level: FindingLevel;
  readonly id: string;
  readonly message: string;
}

export interface TlsReport {
  readonly protocol: string | null;
  readonly cipher: string;
  /** The name the certificate must match: --servername, else the host. */
  readonly name: string;
  readonly certificate: {
    readonly subject: string;
    readonly issuer: string;
    readonly subjectAltName: string | null;
    readonly validFrom: string;
    readonly validTo: string;
    readonly daysLeft: number;
    readonly selfSigned: boolean;
    readonly fingerprint256: string;
    /** The certificate's SHA-256 in base64: the value `--pin-sha256` takes. */
    readonly pinSha256: string;
  } | null;
  /** The chain is trusted (system roots, or --ca) and the name matches. */
  readonly verified: boolean;
  readonly verifyError: string | null;
  readonly hostnameMatches: boolean;
}

export interface LoginReport {
  readonly attempted: boolean;
  /** Why not, when not attempted. */
  readonly skipped: "no-password" | "untrusted-certificate" | "disabled" | null;
  readonly user: string | null;
  readonly ok: boolean | null;
  readonly error: string | null;
}

/** Everything the probe steps saw; `judge` turns it into findings without any I/O. */
export interface DoctorObservations {
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
  /** With --pin-sha256: whether the certificate is the pinned one. */
  readonly pin: { readonly matches: boolean } | null;
  readonly loginMechanisms: readonly string[];
  readonly loginDelay: { readonly seconds: number; readonly perUser: boolean } | null;
  readonly expire: { readonly days: number | "NEVER"; readonly perUser: boolean } | null;
  readonly login: LoginReport;
}

export interface DoctorReport extends DoctorObservations {
  readonly findings: readonly Finding[];
}
