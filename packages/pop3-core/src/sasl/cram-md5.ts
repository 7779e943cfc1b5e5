/**
 * CRAM-MD5 (RFC 2195): the server sends a unique msg-id-like challenge such as
 * `<1896.697170952@postoffice.reston.mci.net>`; the client answers
 * `username SP hex(HMAC-MD5(key = password, text = challenge))`. The password never crosses the
 * wire, so the server needs it in clear to check the answer (`verifyCramMd5`).
 */
import { decodeTextStrict, encodeText } from "../bytes";
import type { Secret } from "../secret";
import { timingSafeEqual } from "./compare";
import {
  asciiLower,
  badArgument,
  challengeStep,
  doneStep,
  failedStep,
  isWellFormed,
  ServerExchange,
  unexpectedChallenge,
} from "./internal";
import { hmacMd5, toHex } from "./md5";
import type { SaslClientMechanism, SaslCredentials, SaslServerStep } from "./types";

const NAME = "CRAM-MD5";

export type CramMd5Credentials = Extract<SaslCredentials, { mechanism: "CRAM-MD5" }>;

export interface CramMd5ClientOptions {
  /** Sent in clear; may contain spaces (the digest is everything after the last one). */
  readonly username: string;
  readonly password: Secret<string>;
}

export function cramMd5Client(options: CramMd5ClientOptions): SaslClientMechanism {
  const { username, password } = options;
  if (username.length === 0) throw badArgument(NAME, "the username must not be empty");
  if (!isWellFormed(username)) throw badArgument(NAME, "the username is not well-formed Unicode");
  if (!isWellFormed(password.reveal())) {
    throw badArgument(NAME, "the password is not well-formed Unicode");
  }

  let answered = false;
  return {
    name: NAME,
    initialResponse: () => undefined,
    respond(challenge) {
      if (answered) throw unexpectedChallenge(NAME, "the digest was already sent");
      if (challenge.length === 0) throw unexpectedChallenge(NAME, "the challenge is empty");
      answered = true;
      return encodeText(`${username} ${cramMd5Digest(password, challenge)}`);
    },
  };
}

/** Lowercase hex HMAC-MD5 of the challenge, keyed with the UTF-8 password. */
function cramMd5Digest(password: string | Secret<string>, challenge: Uint8Array): string {
  const key = typeof password === "string" ? password : password.reveal();
  return toHex(hmacMd5(encodeText(key), challenge));
}

/**
 * Checks the digest of a finished CRAM-MD5 exchange against the user's password, in constant time.
 */
export function verifyCramMd5(
  credentials: CramMd5Credentials,
  password: string | Secret<string>,
): boolean {
  const expected = cramMd5Digest(password, encodeText(credentials.challenge));
  return timingSafeEqual(encodeText(expected), encodeText(asciiLower(credentials.digest)));
}

/** RFC 2195 wants the syntax of an RFC 822 msg-id: `<...>` around visible ASCII. */
const CHALLENGE_SYNTAX = /^<[\x21-\x7e]+>$/;
const DIGEST_SYNTAX = /^[0-9a-fA-F]{32}$/;

/** `challenge` must be new for every exchange, e.g. `<pid.clock@hostname>`. */
export function cramMd5Server(challenge: string): ServerExchange {
  if (!CHALLENGE_SYNTAX.test(challenge)) {
    throw badArgument(NAME, "the challenge must look like <unique@host> in visible ASCII");
  }
  return new CramMd5Server(challenge);
}

class CramMd5Server extends ServerExchange {
  readonly mechanism = NAME;
  readonly #challenge: string;

  constructor(challenge: string) {
    super();
    this.#challenge = challenge;
  }

  protected begin(initialResponse: Uint8Array | undefined): SaslServerStep {
    if (initialResponse !== undefined) {
      return failedStep("CRAM-MD5: the server speaks first; an initial response is not allowed");
    }
    return challengeStep(encodeText(this.#challenge));
  }

  protected next(response: Uint8Array): SaslServerStep {
    const text = decodeTextStrict(response);
    if (text === undefined) return failedStep("CRAM-MD5: the response is not valid UTF-8");
    const space = text.lastIndexOf(" ");
    const username = text.slice(0, Math.max(space, 0));
    const digest = text.slice(space + 1);
    if (space <= 0 || !DIGEST_SYNTAX.test(digest)) {
      return failedStep("CRAM-MD5: expected a user name, a space and 32 hex digits");
    }
    return doneStep({
      mechanism: NAME,
      username,
      challenge: this.#challenge,
      digest: asciiLower(digest),
    });
  }
}
