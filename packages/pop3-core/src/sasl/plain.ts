/**
 * PLAIN (RFC 4616): one client message, `[authzid] NUL authcid NUL passwd`, UTF-8. authcid and
 * passwd are non-empty; none of the three may contain NUL. No challenge is defined, so a server
 * that got no initial response sends an empty one.
 */
import { decodeTextStrict, EMPTY, encodeText } from "../bytes";
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

const NAME = "PLAIN";

export interface PlainClientOptions {
  readonly username: string;
  readonly password: Secret<string>;
  /** Identity to act as; omit (or `""`) to act as `username`. */
  readonly authzid?: string;
}

export function plainClient(options: PlainClientOptions): SaslClientMechanism {
  const { username, password } = options;
  const authzid = options.authzid ?? "";
  checkField(authzid, "authzid", true);
  checkField(username, "username", false);
  checkField(password.reveal(), "password", false);

  const message = (): Uint8Array => encodeText(`${authzid}\0${username}\0${password.reveal()}`);
  let answered = false;
  return {
    name: NAME,
    initialResponse: message,
    respond(challenge) {
      if (challenge.length > 0) throw unexpectedChallenge(NAME, "PLAIN defines no challenge");
      if (answered) throw unexpectedChallenge(NAME, "the message was already sent");
      answered = true;
      return message();
    },
  };
}

function checkField(value: string, field: string, mayBeEmpty: boolean): void {
  if (!mayBeEmpty && value.length === 0) throw badArgument(NAME, `the ${field} must not be empty`);
  if (value.includes("\0")) throw badArgument(NAME, `the ${field} must not contain NUL`);
  if (!isWellFormed(value)) throw badArgument(NAME, `the ${field} is not well-formed Unicode`);
}

export function plainServer(): ServerExchange {
  return new PlainServer();
}

class PlainServer extends ServerExchange {
  readonly mechanism = NAME;

  protected begin(initialResponse: Uint8Array | undefined): SaslServerStep {
    return initialResponse === undefined ? challengeStep(EMPTY) : this.next(initialResponse);
  }

  protected next(response: Uint8Array): SaslServerStep {
    const text = decodeTextStrict(response);
    if (text === undefined) return failedStep("PLAIN: the message is not valid UTF-8");
    const fields = text.split("\0");
    if (fields.length !== 3) {
      return failedStep("PLAIN: expected authzid NUL authcid NUL passwd (exactly two NULs)");
    }
    const [authzid = "", username = "", password = ""] = fields;
    if (username.length === 0) return failedStep("PLAIN: the authentication identity is empty");
    if (password.length === 0) return failedStep("PLAIN: the password is empty");
    return doneStep({ mechanism: NAME, authzid, username, password: new Secret(password) });
  }
}
