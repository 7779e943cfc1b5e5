import type { Secret } from "../secret";

/**
 * The client side of one SASL mechanism (RFC 4422) for one AUTH attempt. Bytes in and out are the
 * decoded payloads; the session does the base64 and the `+ ` / `*` framing of RFC 5034.
 *
 * Client-first mechanisms (PLAIN, XOAUTH2, OAUTHBEARER) answer an empty challenge with their
 * initial response, so a session that leaves the initial response off the AUTH line (RFC 5034 §4:
 * the line would exceed 255 octets) just passes the server's empty challenge to `respond`.
 *
 * `respond` throws `RemoteProtocolError("POP3_SASL")` when the server sends a challenge the
 * mechanism does not allow at that point; the session should then cancel with `*`.
 */
export interface SaslClientMechanism {
  /** The mechanism name as it goes on the AUTH line, e.g. `"CRAM-MD5"`. */
  readonly name: string;
  /** The initial response, or `undefined` when the mechanism starts with a server challenge. */
  initialResponse(): Uint8Array | undefined;
  /** Answer one server challenge. */
  respond(challenge: Uint8Array): Uint8Array;
}

/** What a finished server exchange learned; verifying it is the caller's job. */
export type SaslCredentials =
  | {
      readonly mechanism: "PLAIN";
      /** Authorization identity; `""` when the client asked to act as itself. */
      readonly authzid: string;
      readonly username: string;
      readonly password: Secret<string>;
    }
  | { readonly mechanism: "LOGIN"; readonly username: string; readonly password: Secret<string> }
  | {
      readonly mechanism: "CRAM-MD5";
      readonly username: string;
      /** The challenge the server sent, to be checked with `verifyCramMd5`. */
      readonly challenge: string;
      /** The client's HMAC-MD5, 32 lowercase hex digits. */
      readonly digest: string;
    }
  | { readonly mechanism: "XOAUTH2"; readonly username: string; readonly token: Secret<string> }
  | {
      readonly mechanism: "OAUTHBEARER";
      /** The GS2 authorization identity (`a=`), unescaped; absent when the client sent none. */
      readonly username?: string;
      readonly token: Secret<string>;
      readonly host?: string;
      readonly port?: number;
    };

/**
 * What the server does next. `reason` is safe to log: it describes what was wrong, never what
 * the client sent.
 */
export type SaslServerStep =
  | { readonly type: "challenge"; readonly challenge: Uint8Array }
  | { readonly type: "done"; readonly credentials: SaslCredentials }
  | { readonly type: "failed"; readonly reason: string };

/**
 * The server side of one SASL exchange. Call `start` once, then `step` with each client response
 * while the last result was a `challenge`. Any other call order throws
 * `LocalProtocolError("POP3_BAD_STATE")`. A client's `*` (cancel) never reaches the exchange.
 */
export interface SaslServerExchange {
  readonly mechanism: string;
  /**
   * First step: the initial response if the client sent one (`undefined` = none sent, an empty
   * array = the `=` of RFC 5034 §4).
   */
  start(initialResponse: Uint8Array | undefined): SaslServerStep;
  /** Next client response (decoded base64). */
  step(response: Uint8Array): SaslServerStep;
}
