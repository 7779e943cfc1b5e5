/**
 * XOAUTH2 (Google's pre-standard OAuth 2.0 mechanism, also used by Microsoft): one client message
 * `user=<username>^Aauth=Bearer <token>^A^A`. When the token is refused the server sends a JSON
 * error as a challenge, the client answers with an empty response, and the server says -ERR.
 */
import { decodeTextStrict, EMPTY, encodeText } from "../bytes";
import { Secret } from "../secret";
import {
  badArgument,
  bearerClient,
  challengeStep,
  checkBearerToken,
  doneStep,
  failedStep,
  isWellFormed,
  jsonChallenge,
  KVSEP,
  parseBearer,
  parseKeyValuePairs,
  ServerExchange,
} from "./internal";
import type { SaslClientMechanism, SaslServerStep } from "./types";

const NAME = "XOAUTH2";

export interface Xoauth2ClientOptions {
  readonly username: string;
  readonly token: Secret<string>;
}

export function xoauth2Client(options: Xoauth2ClientOptions): SaslClientMechanism {
  const { username, token } = options;
  if (username.length === 0) throw badArgument(NAME, "the username must not be empty");
  if (username.includes(KVSEP)) throw badArgument(NAME, "the username must not contain \\x01");
  if (!isWellFormed(username)) throw badArgument(NAME, "the username is not well-formed Unicode");
  checkBearerToken(NAME, token.reveal());

  const message = (): Uint8Array =>
    encodeText(`user=${username}${KVSEP}auth=Bearer ${token.reveal()}${KVSEP}${KVSEP}`);
  return bearerClient(NAME, message, EMPTY);
}

export interface Xoauth2ErrorOptions {
  /** HTTP-style status, e.g. `"400"` or `"401"`. */
  readonly status: string | number;
  /** Auth schemes the server accepts, space-separated, e.g. `"bearer"`. */
  readonly schemes?: string;
  /** Scope the token needs, e.g. `"https://mail.google.com/"`. */
  readonly scope?: string;
}

/**
 * The challenge a server sends when it rejects an XOAUTH2 token:
 * `{"status":"401","schemes":"bearer","scope":"..."}`. It then reads one (empty) client response
 * and answers -ERR.
 */
export function xoauth2ErrorChallenge(options: Xoauth2ErrorOptions): Uint8Array {
  return jsonChallenge({
    status: String(options.status),
    schemes: options.schemes,
    scope: options.scope,
  });
}

export function xoauth2Server(): ServerExchange {
  return new Xoauth2Server();
}

class Xoauth2Server extends ServerExchange {
  readonly mechanism = NAME;

  protected begin(initialResponse: Uint8Array | undefined): SaslServerStep {
    return initialResponse === undefined ? challengeStep(EMPTY) : this.next(initialResponse);
  }

  protected next(response: Uint8Array): SaslServerStep {
    const text = decodeTextStrict(response);
    if (text === undefined) return failedStep("XOAUTH2: the message is not valid UTF-8");
    const pairs = parseKeyValuePairs(text);
    if (pairs === undefined) {
      return failedStep("XOAUTH2: expected user=...^Aauth=Bearer ...^A^A");
    }
    const username = pairs.get("user");
    if (username === undefined || username.length === 0) {
      return failedStep("XOAUTH2: the user is missing or empty");
    }
    const token = parseBearer(pairs.get("auth") ?? "");
    if (token === undefined) return failedStep("XOAUTH2: missing auth=Bearer <token>");
    return doneStep({ mechanism: NAME, username, token: new Secret(token) });
  }
}
