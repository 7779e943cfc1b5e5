/**
 * Pieces the mechanism files share. Not exported from the package.
 */
import { encodeText } from "../bytes";
import { LocalProtocolError, RemoteProtocolError } from "../errors";
import type {
  SaslClientMechanism,
  SaslCredentials,
  SaslServerExchange,
  SaslServerStep,
} from "./types";

export function challengeStep(bytes: Uint8Array): SaslServerStep {
  return { type: "challenge", challenge: bytes };
}

export function doneStep(credentials: SaslCredentials): SaslServerStep {
  return { type: "done", credentials };
}

/** `reason` must be a fixed text: never interpolate what the client sent. */
export function failedStep(reason: string): SaslServerStep {
  return { type: "failed", reason };
}

/**
 * Enforces the call order of `SaslServerExchange`: `start` once, then `step` only while the last
 * result was a challenge. Subclasses implement the mechanism in `begin` and `next`.
 */
export abstract class ServerExchange implements SaslServerExchange {
  abstract readonly mechanism: string;
  #phase: "new" | "waiting" | "finished" = "new";

  start(initialResponse: Uint8Array | undefined): SaslServerStep {
    if (this.#phase !== "new") throw misuse(this.mechanism, "start() may be called only once");
    return this.#track(this.begin(initialResponse));
  }

  step(response: Uint8Array): SaslServerStep {
    if (this.#phase !== "waiting") {
      throw misuse(
        this.mechanism,
        this.#phase === "new" ? "step() before start()" : "step() after the exchange ended",
      );
    }
    return this.#track(this.next(response));
  }

  protected abstract begin(initialResponse: Uint8Array | undefined): SaslServerStep;
  protected abstract next(response: Uint8Array): SaslServerStep;

  #track(result: SaslServerStep): SaslServerStep {
    this.#phase = result.type === "challenge" ? "waiting" : "finished";
    return result;
  }
}

function misuse(mechanism: string, detail: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_STATE", `${mechanism} server exchange: ${detail}`);
}

/** For client factories: the message says which field is wrong and why, never its value. */
export function badArgument(mechanism: string, detail: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_ARGUMENT", `${mechanism}: ${detail}`);
}

/** The server sent a challenge the mechanism has no answer for. */
export function unexpectedChallenge(mechanism: string, detail: string): RemoteProtocolError {
  return new RemoteProtocolError(
    "POP3_SASL",
    `${mechanism}: unexpected server challenge (${detail})`,
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when the string can be encoded as UTF-8 without loss: a lone surrogate would silently
 * become U+FFFD and authenticate with a different password than the caller gave.
 */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** Lower-cases A-Z only, so no Unicode case mapping can turn non-ASCII text into ASCII. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Upper-cases a-z only (mechanism names are ASCII; `"ı".toUpperCase()` is `"I"`). */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));
}

/** RFC 5234 VCHAR: visible ASCII, no space. */
export function isVisibleAscii(text: string): boolean {
  return /^[\x21-\x7e]*$/.test(text);
}

export const KVSEP = "\x01";

/**
 * Splits the `key=value^A key=value^A ^A` list that XOAUTH2 and OAUTHBEARER share (RFC 7628
 * §3.1): every pair ends in ^A and one more ^A ends the list. Keys are 1*ALPHA and appear at most
 * once. Returns `undefined` when the text is not exactly such a list; values are not checked.
 */
export function parseKeyValuePairs(text: string): Map<string, string> | undefined {
  if (!text.endsWith(KVSEP + KVSEP) && text !== KVSEP) return undefined;
  const pairs = new Map<string, string>();
  // Drop the closing ^A; what is left is `pair^A pair^A ...`, so the split ends with "".
  const items = text.slice(0, -1).split(KVSEP);
  items.pop();
  for (const item of items) {
    const equals = item.indexOf("=");
    const key = item.slice(0, equals);
    if (equals < 0 || !/^[A-Za-z]+$/.test(key) || pairs.has(key)) return undefined;
    pairs.set(key, item.slice(equals + 1));
  }
  return pairs;
}

/**
 * Checks an OAuth 2.0 access token before it goes into `auth=Bearer <token>`: RFC 6750 tokens are
 * visible ASCII, which also keeps the ^A separator and control characters out.
 */
export function checkBearerToken(mechanism: string, token: string): void {
  if (token.length === 0) throw badArgument(mechanism, "the token must not be empty");
  if (!isVisibleAscii(token)) {
    throw badArgument(mechanism, "the token must be visible ASCII (no spaces or controls)");
  }
}

/**
 * The token of an `auth` value `Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive),
 * or `undefined` for any other value.
 */
export function parseBearer(value: string): string | undefined {
  const match = /^bearer +([\x21-\x7e]+)$/i.exec(value);
  return match?.[1];
}

/** The JSON text of an OAuth error challenge, keeping only the fields that are set. */
export function jsonChallenge(fields: Record<string, string | undefined>): Uint8Array {
  const present: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) present[key] = value;
  }
  return encodeText(JSON.stringify(present));
}

/**
 * The client side shared by XOAUTH2 and OAUTHBEARER: the message goes with AUTH or answers the
 * server's empty challenge; a non-empty challenge is the server's JSON error, answered once with
 * `errorAnswer` (empty for XOAUTH2, a lone ^A for OAUTHBEARER, RFC 7628 §3.2.3).
 */
export function bearerClient(
  name: string,
  message: () => Uint8Array,
  errorAnswer: Uint8Array,
): SaslClientMechanism {
  let sentMessage = false;
  let answeredError = false;
  return {
    name,
    initialResponse: message,
    respond(challenge) {
      if (challenge.length === 0 && !sentMessage) {
        sentMessage = true;
        return message();
      }
      if (challenge.length > 0 && !answeredError) {
        answeredError = true;
        return errorAnswer;
      }
      throw unexpectedChallenge(name, "the exchange should have ended");
    },
  };
}
