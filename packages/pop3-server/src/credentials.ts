import {
  oauthbearerErrorChallenge,
  type SaslCredentials,
  verifyApopDigest,
  verifyCramMd5,
  xoauth2ErrorChallenge,
} from "pop3-core";
import type { AuthContext, Authenticator, AuthResult } from "./auth/types";

/** How each kind of credential is checked against the `Authenticator`. */

/** APOP (RFC 1939 §7): the digest of the greeting's timestamp and the user's shared secret. */
export async function verifyApop(
  auth: Authenticator,
  timestamp: string,
  user: string,
  digest: string,
  context: AuthContext,
): Promise<AuthResult> {
  const secret = await auth.getSharedSecret?.(user, context);
  const ok = secret !== undefined && verifyApopDigest(timestamp, secret.reveal(), digest);
  return ok ? { ok: true, user } : { ok: false };
}

/** What a finished SASL exchange proved, checked with the matching `Authenticator` hook. */
export async function verifySaslCredentials(
  auth: Authenticator,
  credentials: SaslCredentials,
  context: AuthContext,
): Promise<AuthResult> {
  switch (credentials.mechanism) {
    case "PLAIN":
      // No proxy logins: the authorization identity must be empty or the user itself.
      if (credentials.authzid !== "" && credentials.authzid !== credentials.username)
        return { ok: false };
      return auth.verifyPassword(credentials.username, credentials.password, context);
    case "LOGIN":
      return auth.verifyPassword(credentials.username, credentials.password, context);
    case "CRAM-MD5": {
      const secret = await auth.getSharedSecret?.(credentials.username, context);
      const ok = secret !== undefined && verifyCramMd5(credentials, secret.reveal());
      return ok ? { ok: true, user: credentials.username } : { ok: false };
    }
    case "XOAUTH2":
    case "OAUTHBEARER": {
      const verify = auth.verifyToken;
      if (verify === undefined) return { ok: false };
      return verify.call(auth, credentials.username, credentials.token, context);
    }
  }
}

/**
 * RFC 7628 and Google's XOAUTH2: a refused token is answered with an error challenge, and only
 * the client's reply to it gets `-ERR`. `undefined` for the other mechanisms (`-ERR` at once).
 */
export function tokenErrorChallenge(mechanism: string): Uint8Array | undefined {
  if (mechanism === "XOAUTH2") return xoauth2ErrorChallenge({ status: "401", schemes: "bearer" });
  if (mechanism === "OAUTHBEARER") return oauthbearerErrorChallenge({ status: "invalid_token" });
  return undefined;
}
