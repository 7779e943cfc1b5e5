import type { Capability } from "pop3-core";
import type { ResolvedOptions } from "./options";

export interface CapabilityContext {
  readonly options: ResolvedOptions;
  /** The connection is protected by TLS (implicit or after STLS). */
  readonly tls: boolean;
  /** STLS can be offered: TLS is configured and not active yet. */
  readonly stlsAvailable: boolean;
  /** The SASL mechanisms usable on this connection now. */
  readonly mechanisms: readonly string[];
}

/**
 * The CAPA answer for one connection (RFC 2449 §5). Capabilities of the AUTHORIZATION state are
 * listed after login as well, as §5 requires (so SASL stays listed, RFC 5034 §3), and TOP and UIDL
 * before login, since some clients read CAPA only then. USER is listed only when USER/PASS would
 * be accepted on this connection, STLS only while TLS is not active.
 */
export function buildCapabilities(context: CapabilityContext): Capability[] {
  const { options } = context;
  const caps: Capability[] = [{ name: "TOP" }, { name: "UIDL" }];
  if (context.tls || options.allowCleartextAuth) caps.push({ name: "USER" });
  if (context.mechanisms.length > 0) caps.push({ name: "SASL", mechanisms: context.mechanisms });
  caps.push({ name: "RESP-CODES" }, { name: "AUTH-RESP-CODE" }, { name: "PIPELINING" });
  if (options.loginDelaySeconds !== undefined) {
    caps.push({ name: "LOGIN-DELAY", seconds: options.loginDelaySeconds, perUser: false });
  }
  if (options.expire !== undefined)
    caps.push({ name: "EXPIRE", days: options.expire, perUser: false });
  if (options.implementation !== false) {
    caps.push({ name: "IMPLEMENTATION", text: options.implementation });
  }
  if (context.stlsAvailable) caps.push({ name: "STLS" });
  caps.push({ name: "UTF8", user: true });
  caps.push({ name: "LANG" });
  return caps;
}
