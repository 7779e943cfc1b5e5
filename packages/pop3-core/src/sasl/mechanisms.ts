import { cramMd5Server } from "./cram-md5";
import { asciiUpper, badArgument } from "./internal";
import { loginServer } from "./login";
import { oauthbearerServer } from "./oauthbearer";
import { plainServer } from "./plain";
import type { SaslServerExchange } from "./types";
import { xoauth2Server } from "./xoauth2";

/** The SASL mechanisms this package implements, on both sides. */
export const SASL_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"] as const;

export type SaslMechanismName = (typeof SASL_MECHANISMS)[number];

export interface SaslServerOptions {
  /**
   * The CRAM-MD5 challenge, unique per exchange, e.g. `<12345.1700000000@host>`. The core has no
   * randomness or clock, so the server supplies it. Required for CRAM-MD5.
   */
  readonly cramMd5Challenge?: string;
}

/** True for the names in `SASL_MECHANISMS`, compared case-insensitively. */
export function isSaslMechanism(name: string): boolean {
  return (SASL_MECHANISMS as readonly string[]).includes(asciiUpper(name));
}

/**
 * A fresh server exchange for `mechanism` (case-insensitive, as on the AUTH line), or `undefined`
 * when the mechanism is unknown. Throws `LocalProtocolError("POP3_BAD_ARGUMENT")` for CRAM-MD5
 * without a well-formed `cramMd5Challenge`.
 */
export function createSaslServerExchange(
  mechanism: string,
  options: SaslServerOptions = {},
): SaslServerExchange | undefined {
  switch (asciiUpper(mechanism)) {
    case "PLAIN":
      return plainServer();
    case "LOGIN":
      return loginServer();
    case "CRAM-MD5":
      if (options.cramMd5Challenge === undefined) {
        throw badArgument("CRAM-MD5", "the server exchange needs options.cramMd5Challenge");
      }
      return cramMd5Server(options.cramMd5Challenge);
    case "XOAUTH2":
      return xoauth2Server();
    case "OAUTHBEARER":
      return oauthbearerServer();
    default:
      return undefined;
  }
}
