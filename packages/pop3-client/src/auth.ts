import {
  type Capabilities,
  cramMd5Client,
  type Greeting,
  loginClient,
  oauthbearerClient,
  plainClient,
  type SaslClientMechanism,
  Secret,
  xoauth2Client,
} from "pop3-core";
import { ClientError } from "./errors";

export type LoginMechanism =
  | "USER"
  | "APOP"
  | "PLAIN"
  | "LOGIN"
  | "CRAM-MD5"
  | "XOAUTH2"
  | "OAUTHBEARER";

export interface LoginOptions {
  readonly user: string;
  readonly password?: string | Secret<string>;
  /** An OAuth 2.0 access token, or a function that gets a fresh one (called once per login). */
  readonly token?: string | Secret<string> | (() => Promise<string | Secret<string>>);
  /** Force a mechanism; by default the best one the server offers is picked. */
  readonly mechanism?: LoginMechanism;
  /** SASL PLAIN authorization identity (act as another user); rarely needed. */
  readonly authzid?: string;
  readonly signal?: AbortSignal;
}

/**
 * The order of preference. With a token: OAUTHBEARER (the standard) before XOAUTH2. With a
 * password over TLS: PLAIN (one round trip), LOGIN, USER, then the challenge-response ones. In
 * cleartext (only when the caller allowed it): the ones that never send the password first.
 */
const OVER_TLS: readonly LoginMechanism[] = ["PLAIN", "LOGIN", "USER", "CRAM-MD5", "APOP"];
const CLEARTEXT: readonly LoginMechanism[] = ["CRAM-MD5", "APOP", "PLAIN", "LOGIN", "USER"];

export function chooseMechanism(
  options: LoginOptions,
  capabilities: Capabilities,
  greeting: Greeting,
  tls: boolean,
): LoginMechanism {
  if (options.mechanism !== undefined) return options.mechanism;
  const offered = (m: LoginMechanism): boolean => {
    if (m === "USER") return capabilities.has("USER") || capabilities.list.length === 0;
    if (m === "APOP") return greeting.apopTimestamp !== undefined;
    return capabilities.saslMechanisms.includes(m);
  };
  if (options.token !== undefined) {
    const pick = (["OAUTHBEARER", "XOAUTH2"] as const).find(offered);
    if (pick === undefined)
      throw new ClientError(
        "POP3_CONFIG",
        "the server offers no OAuth mechanism (OAUTHBEARER, XOAUTH2)",
      );
    return pick;
  }
  if (options.password === undefined)
    throw new ClientError("POP3_CONFIG", "login needs a password or a token");
  const pick = (tls ? OVER_TLS : CLEARTEXT).find(offered);
  // A server that lists nothing usable may still take USER/PASS (RFC 1939 makes it optional).
  return pick ?? "USER";
}

export async function saslMechanism(
  name: Exclude<LoginMechanism, "USER" | "APOP">,
  options: LoginOptions,
  host: string,
  port: number,
): Promise<SaslClientMechanism> {
  const username = options.user;
  switch (name) {
    case "PLAIN":
      return plainClient({
        username,
        password: secretOf(options.password),
        ...(options.authzid === undefined ? {} : { authzid: options.authzid }),
      });
    case "LOGIN":
      return loginClient({ username, password: secretOf(options.password) });
    case "CRAM-MD5":
      return cramMd5Client({ username, password: secretOf(options.password) });
    case "XOAUTH2":
      return xoauth2Client({ username, token: await tokenOf(options.token) });
    case "OAUTHBEARER":
      return oauthbearerClient({ username, token: await tokenOf(options.token), host, port });
  }
}

export function secretOf(value: string | Secret<string> | undefined): Secret<string> {
  if (value === undefined) throw new ClientError("POP3_CONFIG", "this mechanism needs a password");
  return value instanceof Secret ? value : new Secret(value);
}

async function tokenOf(token: LoginOptions["token"]): Promise<Secret<string>> {
  if (token === undefined) throw new ClientError("POP3_CONFIG", "this mechanism needs a token");
  const value = typeof token === "function" ? await token() : token;
  return value instanceof Secret ? value : new Secret(value);
}
