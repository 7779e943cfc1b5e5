import type { Secret } from "pop3-core";
import type { ScryptRunner } from "./password-hash";

/** Where a login attempt comes from; for throttling and logs. */
export interface AuthContext {
  readonly remoteAddress: string;
  readonly tls: boolean;
  readonly mechanism: "USER" | "APOP" | "PLAIN" | "LOGIN" | "CRAM-MD5" | "XOAUTH2" | "OAUTHBEARER";
  /**
   * The server's password hashing for this attempt: scrypt on worker threads of its own, with a
   * bounded queue. Pass the context to `verifyPasswordHash` to use it. Absent when an
   * authenticator is called outside a server (hashing then uses `crypto.scrypt`).
   */
  readonly hashing?: ScryptRunner;
}

/** The outcome of a credential check. `user` is the canonical maildrop name on success. */
export type AuthResult = { readonly ok: true; readonly user: string } | { readonly ok: false };

/**
 * Where users and their credentials come from. A method that throws is a backend failure
 * (`-ERR [SYS/TEMP]`); `{ ok: false }` is a wrong credential (`-ERR [AUTH]`).
 */
export interface Authenticator {
  /**
   * Checks a plaintext password (USER/PASS, SASL PLAIN and LOGIN). Should take as long for an
   * unknown user as for a known one with a wrong password, so timing does not reveal user names.
   */
  verifyPassword(user: string, password: Secret<string>, context: AuthContext): Promise<AuthResult>;
  /**
   * The plaintext-equivalent secret of `user`, for APOP and CRAM-MD5. Only sources that store one
   * implement this; without it those mechanisms are not offered. `user` must match exactly (no
   * case folding): the server goes on to use it as the canonical maildrop name.
   */
  getSharedSecret?(user: string, context: AuthContext): Promise<Secret<string> | undefined>;
  /**
   * Checks an OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER). `user` is the name the client
   * claimed (OAUTHBEARER may omit it). Without this hook those mechanisms are not offered.
   */
  verifyToken?(
    user: string | undefined,
    token: Secret<string>,
    context: AuthContext,
  ): Promise<AuthResult>;
}
