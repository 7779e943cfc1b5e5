import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";

/** Who the server must prove to be, and how to tell `tls.connect` so. */
export interface ServerIdentity {
  /** The name the certificate must match: the `servername` option if given, else the host. */
  readonly name: string;
  /** Options for `tls.connect`: the SNI to send, and a check against `name`. */
  readonly tlsOptions: {
    readonly servername?: string;
    readonly checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;
  };
}

/**
 * The one rule for naming the server over TLS, shared by the client and `pop3 doctor`. SNI carries
 * host names only (RFC 6066 §3), so for an IP address none is sent; but then Node checks the
 * certificate against its `host` option, which a TLS connection over an existing socket does not
 * have, and falls back to "localhost" — a `DNS:localhost` certificate passed at 127.0.0.1 and an
 * `IP:127.0.0.1` one failed. So the check is given explicitly, against `name`.
 */
export function serverIdentity(host: string, servername?: string): ServerIdentity {
  const name = servername ?? host;
  return {
    name,
    tlsOptions: {
      ...(isIP(name) === 0 ? { servername: name } : {}),
      checkServerIdentity: (_hostname, cert) => checkServerIdentity(name, cert),
    },
  };
}
