import {
  createSaslServerExchange,
  decodeBase64Strict,
  oauthbearerErrorChallenge,
  type Pop3Command,
  RemoteProtocolError,
  type SaslCredentials,
  type SaslServerExchange,
  type SaslServerStep,
  type Secret,
  type ServerEvent,
  serializeCapabilities,
  verifyApopDigest,
  verifyCramMd5,
  xoauth2ErrorChallenge,
} from "pop3-core";
import { PasswordHashBusyError } from "./auth/hash-pool";
import type { AuthContext, AuthResult } from "./auth/types";
import type { Connection } from "./connection";
import { uniqueTimestamp } from "./context";
import { InvalidUserError, MaildropInUseError } from "./errors";
import { answerLang } from "./lang";
import { Mailbox } from "./mailbox";
import { observe } from "./observer";
import { UnsafeMaildropError } from "./store/common";

/** An AUTH exchange in progress on a connection. */
export interface SaslState {
  readonly exchange: SaslServerExchange;
  /** The OAuth token was refused and its error challenge sent; the next response ends in -ERR. */
  failing: boolean;
}

type Mechanism = AuthContext["mechanism"];

const AUTH_FAILED = { ok: false, code: "AUTH", text: "authentication failed" } as const;
const CLEARTEXT_REFUSED = {
  ok: false,
  code: "AUTH",
  text: "plaintext authentication disallowed without TLS",
} as const;

/** Commands of the AUTHORIZATION state (RFC 1939 §4, RFC 2449, 2595, 5034, 6856). */
export function handleAuthorization(
  conn: Connection,
  command: Pop3Command,
): Promise<void> | undefined {
  switch (command.name) {
    case "CAPA":
      conn.replyLines(
        { ok: true, text: "capability list follows" },
        serializeCapabilities(conn.capabilities()),
      );
      return undefined;
    case "USER":
      if (!conn.cleartextAllowed()) {
        conn.reply(CLEARTEXT_REFUSED);
        return undefined;
      }
      conn.pendingUser = command.user;
      conn.reply({ ok: true, text: "send PASS" });
      return undefined;
    case "PASS": {
      const user = conn.pendingUser as string;
      const password = command.password;
      return login(conn, user, "USER", (context) =>
        conn.context.options.auth.verifyPassword(user, password, context),
      );
    }
    case "APOP":
      return apop(conn, command.user, command.digest);
    case "AUTH":
      if (command.mechanism === undefined) {
        // Not in RFC 5034, but Dovecot answers a bare AUTH with the list, and Outlook relies on it.
        conn.replyLines({ ok: true, text: "SASL mechanisms follow" }, conn.mechanisms());
        return undefined;
      }
      return startSasl(conn, command.mechanism, command.initialResponse);
    case "STLS":
      if (conn.context.tls === undefined) {
        conn.reply({ ok: false, text: "STLS not available" });
      } else {
        // The connection starts TLS once this is sent; core drops what was pipelined after STLS.
        conn.reply({ ok: true, text: "begin TLS negotiation" });
      }
      return undefined;
    case "UTF8":
      conn.reply({ ok: true, text: "UTF8 enabled" });
      return undefined;
    case "LANG":
      answerLang(conn, command.tag);
      return undefined;
    case "QUIT":
      conn.reply({ ok: true, text: "bye" });
      conn.end();
      return undefined;
    default:
      conn.reply({ ok: false, text: "unknown command" });
      conn.countBadCommand();
      return undefined;
  }
}

async function apop(conn: Connection, user: string, digest: string): Promise<void> {
  const { auth, apop: enabled } = conn.context.options;
  const getSecret = auth.getSharedSecret;
  if (!enabled || getSecret === undefined) {
    conn.reply({ ok: false, text: "APOP not available" });
    return;
  }
  await login(conn, user, "APOP", async (context) => {
    const secret = await getSecret.call(auth, user, context);
    const ok = secret !== undefined && verifyApopDigest(conn.timestamp, secret.reveal(), digest);
    return ok ? { ok: true, user } : { ok: false };
  });
}

async function startSasl(
  conn: Connection,
  mechanism: string,
  initialResponse: Secret<string> | undefined,
): Promise<void> {
  if (!conn.mechanisms().includes(mechanism)) {
    const plaintext = mechanism === "PLAIN" || mechanism === "LOGIN";
    conn.reply(
      plaintext && !conn.cleartextAllowed()
        ? CLEARTEXT_REFUSED
        : { ok: false, text: "unsupported mechanism" },
    );
    return;
  }
  const exchange = createSaslServerExchange(mechanism, {
    cramMd5Challenge: uniqueTimestamp(conn.context.options.hostname),
  }) as SaslServerExchange;
  let initial: Uint8Array | undefined;
  try {
    initial =
      initialResponse === undefined ? undefined : decodeBase64Strict(initialResponse.reveal());
  } catch (error) {
    if (!(error instanceof RemoteProtocolError)) throw error;
    conn.reply({ ok: false, text: "invalid base64 in initial response" });
    return;
  }
  await saslStep(conn, { exchange, failing: false }, exchange.start(initial));
}

/** The client's answer to a challenge, or its `*`. */
export async function continueSasl(
  conn: Connection,
  event: Extract<ServerEvent, { type: "sasl-response" | "sasl-cancelled" }>,
): Promise<void> {
  const state = conn.sasl as SaslState;
  conn.sasl = undefined;
  if (event.type === "sasl-cancelled") {
    conn.reply(event.reply);
    return;
  }
  if (state.failing) {
    await failLogin(conn, undefined);
    return;
  }
  await saslStep(conn, state, state.exchange.step(event.response));
}

async function saslStep(conn: Connection, state: SaslState, step: SaslServerStep): Promise<void> {
  switch (step.type) {
    case "challenge":
      conn.sasl = state;
      conn.challenge(step.challenge);
      return;
    case "failed":
      conn.context.options.logger.info(
        { connection: conn.id, reason: step.reason },
        "SASL exchange failed",
      );
      observe(conn.context.options.observer, "onLogin", state.exchange.mechanism, "failed");
      await failLogin(conn, undefined);
      return;
    case "done": {
      const { credentials } = step;
      await login(
        conn,
        credentials.username,
        credentials.mechanism,
        (context) => verifyCredentials(conn, credentials, context),
        () => sendTokenError(conn, state, credentials.mechanism),
      );
      return;
    }
  }
}

/**
 * RFC 7628 and Google's XOAUTH2: a refused token is answered with an error challenge; the client
 * replies (empty, or `\x01`) and only then gets -ERR. Returns false for other mechanisms.
 */
function sendTokenError(conn: Connection, state: SaslState, mechanism: string): boolean {
  let challenge: Uint8Array;
  if (mechanism === "XOAUTH2")
    challenge = xoauth2ErrorChallenge({ status: "401", schemes: "bearer" });
  else if (mechanism === "OAUTHBEARER")
    challenge = oauthbearerErrorChallenge({ status: "invalid_token" });
  else return false;
  conn.sasl = { ...state, failing: true };
  conn.challenge(challenge);
  return true;
}

async function verifyCredentials(
  conn: Connection,
  credentials: SaslCredentials,
  context: AuthContext,
): Promise<AuthResult> {
  const { auth } = conn.context.options;
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
 * Runs a credential check with throttling, then opens the maildrop. Every path answers exactly
 * once: +OK with the maildrop, -ERR [AUTH], [LOGIN-DELAY], [IN-USE] or [SYS/TEMP].
 * `answerRefusal` may answer a refusal itself (an OAuth error challenge) by returning true.
 */
async function login(
  conn: Connection,
  claimedUser: string | undefined,
  mechanism: Mechanism,
  check: (context: AuthContext) => Promise<AuthResult>,
  answerRefusal: () => boolean = () => false,
): Promise<void> {
  const { context } = conn;
  const { options } = context;
  const admission = context.throttle.begin({ address: conn.remoteAddress, user: claimedUser });
  if (!admission.allowed) {
    // Capped: refused before any check, so a guess here costs the guesser, not our CPU, and the
    // answer says nothing about the password. [SYS/TEMP], not [AUTH]: the credentials may well
    // be right (RFC 3206 §4), and a real client should retry later, not ask for a new password.
    options.logger.warn(
      {
        connection: conn.id,
        address: conn.remoteAddress,
        user: claimedUser,
        cap: admission.reason,
      },
      "login refused: too many failed logins",
    );
    observe(options.observer, "onLogin", mechanism, "failed");
    conn.reply({ ok: false, code: "SYS/TEMP", text: "too many failed logins, try later" });
    conn.end();
    return;
  }

  // Everything below waits on the client's behalf: stop waiting (sleep, hash queue) once it left.
  const gone = closedSignal(conn);
  let outcome: "success" | "failure" | "none" = "none";
  let result: AuthResult;
  try {
    // Only addresses with recent failures wait; every attempt from them waits the same, right
    // password or not, so timing tells nothing. The delay is per connection; the cap bounds how
    // many such waits an address gets.
    if (admission.delayMs > 0) await sleep(admission.delayMs, gone);
    if (conn.closed) return;
    const priority = admission.clean ? "high" : "low";
    result = await check({
      remoteAddress: conn.remoteAddress,
      tls: conn.session.tls,
      mechanism,
      hashing: (request) => context.hashPool.run(request, { priority, signal: gone }),
    });
    outcome = result.ok ? "success" : "failure";
  } catch (error) {
    if (error instanceof PasswordHashBusyError) {
      // Not a verdict on the password: neither a failure nor a success.
      options.logger.warn(
        { connection: conn.id, address: conn.remoteAddress, reason: error.reason },
        "login refused: password hashing busy",
      );
      observe(options.observer, "onLogin", mechanism, "error");
      if (!conn.closed) {
        conn.reply({ ok: false, code: "SYS/TEMP", text: "server busy, try later" });
      }
      return;
    }
    options.logger.error(
      { connection: conn.id, mechanism, err: errorText(error) },
      "authentication backend failed",
    );
    observe(options.observer, "onLogin", mechanism, "error");
    conn.reply({
      ok: false,
      code: "SYS/TEMP",
      text: "authentication backend unavailable, try later",
    });
    return;
  } finally {
    admission.finish(outcome);
  }
  if (!result.ok) {
    observe(options.observer, "onLogin", mechanism, "failed");
    if (answerRefusal()) return;
    await failLogin(conn, claimedUser, mechanism);
    return;
  }
  const user = result.user;

  if (options.loginDelaySeconds !== undefined && options.loginDelaySeconds > 0) {
    const verdict = context.loginDelays.check(user, options.loginDelaySeconds);
    if (!verdict.allowed) {
      observe(options.observer, "onLogin", mechanism, "delayed");
      conn.reply({
        ok: false,
        code: "LOGIN-DELAY",
        text: `wait ${verdict.retryAfterSeconds} seconds between logins`,
      });
      return;
    }
  }

  let mailbox: Mailbox;
  try {
    mailbox = new Mailbox(await options.store.openMaildrop(user));
  } catch (error) {
    if (error instanceof MaildropInUseError) {
      observe(options.observer, "onInUse");
      observe(options.observer, "onLogin", mechanism, "in-use");
      conn.reply({ ok: false, code: "IN-USE", text: "maildrop already locked by another session" });
    } else if (error instanceof InvalidUserError) {
      observe(options.observer, "onLogin", mechanism, "failed");
      await failLogin(conn, user, mechanism);
    } else if (error instanceof UnsafeMaildropError) {
      // A symlink where the store refuses one: trying later will not help, an administrator must.
      options.logger.error(
        { connection: conn.id, user, err: errorText(error) },
        "maildrop refused as unsafe",
      );
      observe(options.observer, "onLogin", mechanism, "error");
      conn.reply({
        ok: false,
        code: "SYS/PERM",
        text: "maildrop unavailable, contact the administrator",
      });
    } else {
      options.logger.error(
        { connection: conn.id, user, err: errorText(error) },
        "opening the maildrop failed",
      );
      observe(options.observer, "onLogin", mechanism, "error");
      conn.reply({ ok: false, code: "SYS/TEMP", text: "maildrop unavailable, try later" });
    }
    return;
  }
  if (conn.closed) {
    // The client left while the maildrop was opening: give the lock back at once.
    await mailbox.maildrop.release();
    return;
  }
  context.loginDelays.recordLogin(user);
  conn.loggedIn(user, mailbox);
  observe(options.observer, "onLogin", mechanism, "ok");
  const { count, size } = mailbox.stat();
  conn.reply({ ok: true, text: `${user} has ${count} messages (${size} octets)` });
}

async function failLogin(
  conn: Connection,
  user: string | undefined,
  mechanism?: Mechanism,
): Promise<void> {
  conn.context.stats.authFailures += 1;
  conn.authFailures += 1;
  conn.context.options.logger.info(
    { connection: conn.id, address: conn.remoteAddress, user, mechanism },
    "login failed",
  );
  conn.reply(AUTH_FAILED);
  if (conn.authFailures >= conn.context.options.limits.maxAuthFailures) conn.end();
}

const closedSignals = new WeakMap<Connection, AbortSignal>();

/** Aborts when the connection closes; one per connection, however many logins it tries. */
function closedSignal(conn: Connection): AbortSignal {
  let signal = closedSignals.get(conn);
  if (signal === undefined) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    conn.whenClosed().then(abort, abort);
    signal = controller.signal;
    closedSignals.set(conn, signal);
  }
  return signal;
}

/** Resolves after `ms`, or early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
