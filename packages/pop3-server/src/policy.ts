import type { Capability, StatusReply } from "pop3-core";
import type { ResolvedOptions } from "./options";

/**
 * What a connection may offer and accept, decided in one place from the options and whether TLS
 * protects the connection: cleartext credentials, APOP, the SASL mechanisms and the CAPA list.
 * Both phases and the greeting ask here; none of them decides on its own.
 */

/** The answer to USER, AUTH PLAIN or AUTH LOGIN where cleartext credentials may not travel. */
export const CLEARTEXT_REFUSED: StatusReply = {
  ok: false,
  code: "AUTH",
  text: "plaintext authentication disallowed without TLS",
};

/**
 * Cleartext credentials (USER/PASS, PLAIN, LOGIN, and the OAuth tokens) may travel on this
 * connection: under TLS, or where the operator allowed it (RFC 2595 §2.2: a server MUST be able
 * to refuse them without TLS).
 */
export function cleartextAllowed(options: ResolvedOptions, tls: boolean): boolean {
  return tls || options.allowCleartextAuth;
}

/** APOP is offered (its timestamp in the greeting) only when `auth` can give a shared secret. */
export function apopOffered(options: ResolvedOptions): boolean {
  return options.apop && options.auth.getSharedSecret !== undefined;
}

/**
 * SASL mechanisms usable now, in the configured order: PLAIN and LOGIN only where cleartext
 * passwords may travel, CRAM-MD5 only with a shared-secret source, the OAuth ones only with a
 * token hook (and, bearer tokens being as good as passwords, only where cleartext may travel).
 */
export function usableMechanisms(options: ResolvedOptions, tls: boolean): string[] {
  const cleartextOk = cleartextAllowed(options, tls);
  const tokens = options.auth.verifyToken !== undefined;
  const usable: Record<(typeof options.saslMechanisms)[number], boolean> = {
    PLAIN: cleartextOk,
    LOGIN: cleartextOk,
    "CRAM-MD5": options.auth.getSharedSecret !== undefined,
    XOAUTH2: cleartextOk && tokens,
    OAUTHBEARER: cleartextOk && tokens,
  };
  return options.saslMechanisms.filter((mechanism) => usable[mechanism]);
}

/**
 * Why `AUTH mechanism` is refused now, as the `-ERR` to send; `undefined` when it may start.
 * PLAIN and LOGIN that only lack TLS get `[AUTH]` and say so; anything else is unsupported.
 */
export function mechanismRefusal(
  options: ResolvedOptions,
  tls: boolean,
  mechanism: string,
): StatusReply | undefined {
  if (usableMechanisms(options, tls).includes(mechanism)) return undefined;
  const plaintext = mechanism === "PLAIN" || mechanism === "LOGIN";
  return plaintext && !cleartextAllowed(options, tls)
    ? CLEARTEXT_REFUSED
    : { ok: false, text: "unsupported mechanism" };
}

/** STLS can be offered: TLS is configured (`stlsConfigured`) and not active yet. */
export function stlsOffered(stlsConfigured: boolean, tls: boolean): boolean {
  return stlsConfigured && !tls;
}

/**
 * The CAPA answer for one connection (RFC 2449 §5), the same before and after login: the
 * capabilities of the AUTHORIZATION state are listed after login as well, as §5 requires (so SASL
 * stays listed, RFC 5034 §3), and TOP and UIDL before login, since some clients read CAPA only
 * then. USER is listed only when USER/PASS would be accepted on this connection, STLS only while
 * TLS is not active.
 */
export function capabilities(
  options: ResolvedOptions,
  connection: { readonly tls: boolean; readonly stlsConfigured: boolean },
): Capability[] {
  const { tls } = connection;
  const caps: Capability[] = [{ name: "TOP" }, { name: "UIDL" }];
  if (cleartextAllowed(options, tls)) caps.push({ name: "USER" });
  const mechanisms = usableMechanisms(options, tls);
  if (mechanisms.length > 0) caps.push({ name: "SASL", mechanisms });
  caps.push({ name: "RESP-CODES" }, { name: "AUTH-RESP-CODE" }, { name: "PIPELINING" });
  if (options.loginDelaySeconds !== undefined) {
    caps.push({ name: "LOGIN-DELAY", seconds: options.loginDelaySeconds, perUser: false });
  }
  if (options.expire !== undefined) {
    caps.push({ name: "EXPIRE", days: options.expire, perUser: false });
  }
  if (options.implementation !== false) {
    caps.push({ name: "IMPLEMENTATION", text: options.implementation });
  }
  if (stlsOffered(connection.stlsConfigured, tls)) caps.push({ name: "STLS" });
  caps.push({ name: "UTF8", user: true });
  caps.push({ name: "LANG" });
  return caps;
}
