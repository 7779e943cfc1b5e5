import { checkServerIdentity, type PeerCertificate, type TLSSocket } from "node:tls";
import { pinOfFingerprint } from "../pin";
import { ProbeConnection, type ProbeTarget } from "./probe";
import type { DoctorObservations, TlsReport } from "./report";

/** What a TLS socket negotiated, and whether its certificate is trusted and valid for `name`. */
export function describeTls(socket: TLSSocket, name: string): TlsReport {
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
      pinSha256: pinOfFingerprint(cert.fingerprint256),
    };
    hostnameMatches = checkServerIdentity(name, cert) === undefined;
  }
  const error = socket.authorizationError as unknown;
  return {
    protocol: socket.getProtocol(),
    cipher: cipher.standardName ?? cipher.name,
    name,
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

/** Whether the server also completes a TLS 1.0/1.1 handshake: a second, throw-away connection. */
export async function probeLegacyTls(
  target: ProbeTarget,
): Promise<DoctorObservations["legacyTls"]> {
  const { trace: _trace, ...quiet } = target;
  const legacy: ProbeTarget = {
    ...quiet,
    tls: {
      ...target.tls,
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
      ciphers: "DEFAULT:@SECLEVEL=0",
    },
  };
  try {
    const probe = await ProbeConnection.open(legacy);
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
