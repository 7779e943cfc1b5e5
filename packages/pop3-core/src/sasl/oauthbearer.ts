/**
 * OAUTHBEARER (RFC 7628). The client message is a GS2 header (RFC 5801 §4) followed by
 * key/value pairs:
 *
 *     n,a=<saslname>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A
 *
 * `n` says the client does not use channel binding, which this mechanism does not support. In the
 * optional authorization identity `a=`, "," and "=" are written `=2C` and `=3D`. When the token
 * is refused, the server sends a JSON error as a challenge, the client answers with a single ^A,
 * and the server says -ERR (§3.2.3).
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
  isVisibleAscii,
  isWellFormed,
  jsonChallenge,
  KVSEP,
  parseBearer,
  parseKeyValuePairs,
  ServerExchange,
} from "./internal";
import type { SaslClientMechanism, SaslCredentials, SaslServerStep } from "./types";

const NAME = "OAUTHBEARER";

export interface OauthbearerClientOptions {
  /** Authorization identity (`a=`); omit to let the server take it from the token. */
  readonly username?: string;
  readonly token: Secret<string>;
  /** Host name the client connected to (ASCII; use the A-label form of IDNs). */
  readonly host?: string;
  /** Port the client connected to. */
  readonly port?: number;
}

export function oauthbearerClient(options: OauthbearerClientOptions): SaslClientMechanism {
  const { username, token, host, port } = options;
  if (username !== undefined) checkUsername(username);
  checkBearerToken(NAME, token.reveal());
  if (host !== undefined && (host.length === 0 || !isVisibleAscii(host))) {
    throw badArgument(NAME, "the host must be non-empty visible ASCII");
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw badArgument(NAME, "the port must be an integer from 1 to 65535");
  }

  const header = `n,${username === undefined ? "" : `a=${encodeSaslname(username)}`},`;
  const pairs =
    (host === undefined ? "" : `host=${host}${KVSEP}`) +
    (port === undefined ? "" : `port=${port}${KVSEP}`);
  const message = (): Uint8Array =>
    encodeText(`${header}${KVSEP}${pairs}auth=Bearer ${token.reveal()}${KVSEP}${KVSEP}`);

  return bearerClient(NAME, message, encodeText(KVSEP));
}

function checkUsername(username: string): void {
  if (username.length === 0) {
    throw badArgument(NAME, "the username must not be empty (omit it to send none)");
  }
  // NUL is outside the saslname grammar; ^A is allowed there but breaks naive parsers.
  if (username.includes("\0") || username.includes(KVSEP)) {
    throw badArgument(NAME, "the username must not contain NUL or \\x01");
  }
  if (!isWellFormed(username)) throw badArgument(NAME, "the username is not well-formed Unicode");
}

/** RFC 5801 saslname: "," becomes `=2C` and "=" becomes `=3D`. */
export function encodeSaslname(name: string): string {
  return name.replace(/[,=]/g, (c) => (c === "," ? "=2C" : "=3D"));
}

/** The inverse of `encodeSaslname`; `undefined` for a stray "=" or NUL, or an empty name. */
export function decodeSaslname(text: string): string | undefined {
  if (text.length === 0 || text.includes("\0") || text.includes(",")) return undefined;
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return text.replace(/=2C|=3D/g, (escaped) => (escaped === "=2C" ? "," : "="));
}

export interface OauthbearerErrorOptions {
  /** An OAuth error code (RFC 6749 §5.2 / RFC 6750 §3.1), e.g. `"invalid_token"`. */
  readonly status: string;
  /** Scope the token needs. */
  readonly scope?: string;
  /** URL of the OpenID Connect discovery document (the `openid-configuration` field). */
  readonly openidConfiguration?: string;
}

/**
 * The challenge a server sends when it rejects an OAUTHBEARER token (RFC 7628 §3.2.2), e.g.
 * `{"status":"invalid_token","scope":"..."}`. It then reads the client's ^A and answers -ERR.
 */
export function oauthbearerErrorChallenge(options: OauthbearerErrorOptions): Uint8Array {
  return jsonChallenge({
    status: options.status,
    scope: options.scope,
    "openid-configuration": options.openidConfiguration,
  });
}

export function oauthbearerServer(): ServerExchange {
  return new OauthbearerServer();
}

type OauthbearerCredentials = Extract<SaslCredentials, { mechanism: "OAUTHBEARER" }>;

/** RFC 7628 §3.1: value = *(VCHAR / SP / HTAB / CR / LF). */
const VALUE_SYNTAX = /^[\x21-\x7e \t\r\n]*$/;
const PORT_SYNTAX = /^[1-9][0-9]{0,4}$/;

class OauthbearerServer extends ServerExchange {
  readonly mechanism = NAME;

  protected begin(initialResponse: Uint8Array | undefined): SaslServerStep {
    return initialResponse === undefined ? challengeStep(EMPTY) : this.next(initialResponse);
  }

  protected next(response: Uint8Array): SaslServerStep {
    const text = decodeTextStrict(response);
    if (text === undefined) return failedStep("OAUTHBEARER: the message is not valid UTF-8");

    // GS2 header: cb-flag "," [ "a=" saslname ] ","
    if (text.startsWith("p=")) return failedStep("OAUTHBEARER: channel binding is not supported");
    if (!text.startsWith("n,") && !text.startsWith("y,")) {
      return failedStep("OAUTHBEARER: bad GS2 header (expected n, or y,)");
    }
    const headerEnd = text.indexOf(",", 2);
    if (headerEnd < 0) return failedStep("OAUTHBEARER: bad GS2 header (unterminated)");
    const authzid = text.slice(2, headerEnd);
    let username: string | undefined;
    if (authzid.length > 0) {
      username = authzid.startsWith("a=") ? decodeSaslname(authzid.slice(2)) : undefined;
      if (username === undefined) return failedStep("OAUTHBEARER: bad GS2 authorization identity");
    }

    const rest = text.slice(headerEnd + 1);
    const pairs = rest.startsWith(KVSEP) ? parseKeyValuePairs(rest.slice(1)) : undefined;
    if (pairs === undefined) return failedStep("OAUTHBEARER: bad key/value list after the header");
    for (const value of pairs.values()) {
      if (!VALUE_SYNTAX.test(value)) return failedStep("OAUTHBEARER: a value has bad characters");
    }

    const token = parseBearer(pairs.get("auth") ?? "");
    if (token === undefined) return failedStep("OAUTHBEARER: missing auth=Bearer <token>");
    let credentials: OauthbearerCredentials = { mechanism: NAME, token: new Secret(token) };
    if (username !== undefined) credentials = { ...credentials, username };

    const host = pairs.get("host");
    if (host !== undefined) credentials = { ...credentials, host };
    const port = pairs.get("port");
    if (port !== undefined) {
      const number = Number(port);
      if (!PORT_SYNTAX.test(port) || number > 65535) {
        return failedStep("OAUTHBEARER: the port is not a number from 1 to 65535");
      }
      credentials = { ...credentials, port: number };
    }
    return doneStep(credentials);
  }
}
