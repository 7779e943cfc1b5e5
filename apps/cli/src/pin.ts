import { CliError, EXIT } from "./errors";

/**
 * Certificate pinning: the SHA-256 of the server's certificate (DER), the value `pop3 doctor`
 * prints as `pin-sha256` (base64). The certificate, not its public key, because that is what
 * pop3-client lets us read from the connection that logs in (`tlsInfo.certificate.fingerprint256`).
 */

/** A pin as given: base64 (`doctor`'s form, optionally `sha256//…` as curl writes it) or hex. */
export function parsePin(text: string, from: string): Buffer {
  const value = text.trim().replace(/^sha256\/\//i, "");
  let digest: Buffer | undefined;
  if (/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(value) || /^[0-9a-f]{64}$/i.test(value)) {
    digest = Buffer.from(value.replace(/:/g, ""), "hex");
  } else if (/^[A-Za-z0-9+/]{43}=?$/.test(value)) {
    digest = Buffer.from(value, "base64");
  }
  if (digest?.length !== 32) {
    throw new CliError(
      EXIT.USAGE,
      `${from}: not a SHA-256 pin: give the base64 value pop3 doctor prints as pin-sha256 (44 characters), or the certificate's SHA-256 in hex`,
      { code: "POP3_PIN_INVALID" },
    );
  }
  return digest;
}

/** `AB:CD:…` (Node's `fingerprint256`) → the base64 pin doctor prints. */
export function pinOfFingerprint(fingerprint256: string): string {
  return Buffer.from(fingerprint256.replace(/:/g, ""), "hex").toString("base64");
}

/** Whether the certificate with this `fingerprint256` is one of `pins`. */
export function pinMatches(pins: readonly Buffer[], fingerprint256: string): boolean {
  const actual = Buffer.from(fingerprint256.replace(/:/g, ""), "hex");
  return pins.some((pin) => pin.equals(actual));
}

/** The connection is refused: its certificate is not the pinned one, or there is no TLS at all. */
export function pinError(where: string, actual: string | undefined): CliError {
  const message =
    actual === undefined
      ? `${where}: --pin-sha256 needs TLS, and this connection has none (no certificate to check); disconnected before logging in`
      : `${where}: the server's certificate is not the pinned one (its pin-sha256 is ${actual}); disconnected before logging in`;
  return new CliError(EXIT.CONNECTION, message, { code: "POP3_PIN_MISMATCH" });
}
