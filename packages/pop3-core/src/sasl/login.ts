/**
 * LOGIN (draft-murchison-sasl-login): the server asks twice and the client answers the user name,
 * then the password. The challenge texts carry no meaning and clients ignore them; servers send
 * `Username:` and `Password:` because some deployed clients expect exactly those.
 *
 * The draft defines no initial response. Like common servers, ours takes one as the user name.
 * Both answers must be non-empty UTF-8 without NUL.
 */
import { decodeTextStrict, encodeText } from "../bytes";
import { Secret } from "../secret";
import {
  badArgument,
  challengeStep,
  doneStep,
  failedStep,
  isWellFormed,
  ServerExchange,
  unexpectedChallenge,
} from "./internal";
import type { SaslClientMechanism, SaslServerStep } from "./types";

const NAME = "LOGIN";

export const LOGIN_USERNAME_CHALLENGE = "Username:";
export const LOGIN_PASSWORD_CHALLENGE = "Password:";

export interface LoginClientOptions {
  readonly username: string;
  readonly password: Secret<string>;
}

export function loginClient(options: LoginClientOptions): SaslClientMechanism {
  const { username, password } = options;
  checkField(username, "username");
  checkField(password.reveal(), "password");

  let answers = 0;
  return {
    name: NAME,
    initialResponse: () => undefined,
    respond() {
      answers++;
      if (answers === 1) return encodeText(username);
      if (answers === 2) return encodeText(password.reveal());
      throw unexpectedChallenge(NAME, "both the user name and the password were already sent");
    },
  };
}

function checkField(value: string, field: string): void {
  if (value.length === 0) throw badArgument(NAME, `the ${field} must not be empty`);
  if (value.includes("\0")) throw badArgument(NAME, `the ${field} must not contain NUL`);
  if (!isWellFormed(value)) throw badArgument(NAME, `the ${field} is not well-formed Unicode`);
}

export function loginServer(): ServerExchange {
  return new LoginServer();
}

class LoginServer extends ServerExchange {
  readonly mechanism = NAME;
  #username: string | undefined;

  protected begin(initialResponse: Uint8Array | undefined): SaslServerStep {
    if (initialResponse === undefined) return challengeStep(encodeText(LOGIN_USERNAME_CHALLENGE));
    return this.next(initialResponse);
  }

  protected next(response: Uint8Array): SaslServerStep {
    const text = decodeTextStrict(response);
    const field = this.#username === undefined ? "user name" : "password";
    if (text === undefined) return failedStep(`LOGIN: the ${field} is not valid UTF-8`);
    if (text.length === 0) return failedStep(`LOGIN: the ${field} is empty`);
    if (text.includes("\0")) return failedStep(`LOGIN: the ${field} contains NUL`);

    if (this.#username === undefined) {
      this.#username = text;
      return challengeStep(encodeText(LOGIN_PASSWORD_CHALLENGE));
    }
    return doneStep({ mechanism: NAME, username: this.#username, password: new Secret(text) });
  }
}
