import { isIP } from "node:net";

/**
 * The `servername` option for a TLS connection to `host`. SNI carries host names only (RFC 6066
 * §3): for an IP address it is left out, and Node still checks the certificate against the IP.
 */
export function serverName(host: string): { servername?: string } {
  return isIP(host) === 0 ? { servername: host } : {};
}
