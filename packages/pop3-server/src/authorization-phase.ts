import {
  createSaslServerExchange,
  decodeBase64Strict,
  type Greeting,
  type Pop3Command,
  RemoteProtocolError,
  type SaslServerExchange,
  type SaslServerStep,
  type Secret,
  type ServerEvent,
} from "pop3-core";
import type { AuthContext, AuthResult } from "./auth/types";
import { uniqueTimestamp } from "./context";
import { tokenErrorChallenge, verifyApop, verifySaslCredentials } from "./credentials";
import { attemptLogin, type LoginVerdict, type Mechanism } from "./login";
import type { Mailbox } from "./mailbox";
import { observe } from "./observer";
import type { PhaseHost } from "./phase-host";
import {
  apopOffered,
  CLEARTEXT_REFUSED,
  cleartextAllowed,
  mechanismRefusal,
  usableMechanisms,
} from "./policy";
import { answerCapa, answerLang, answerUnknown } from "./shared-commands";

/** What the AUTHORIZATION phase hands over when a login succeeded. */
export interface LoggedIn {
  readonly user: string;
  /** The user's maildrop, open and locked. */
  readonly mailbox: Mailbox;
}

/** The client's answer to a SASL challenge, or its `*`. */
export type SaslEvent = Extract<ServerEvent, { type: "sasl-response" | "sasl-cancelled" }>;

/** An AUTH exchange waiting for the client's next response. */
interface SaslState {
  readonly exchange: SaslServerExchange;
  /** The OAuth token was refused and its error challenge sent; the next response ends in -ERR. */
  readonly failing: boolean;
}

const AUTH_FAILED = { ok: false, code: "AUTH", text: "authentication failed" } as const;

/**
 * The AUTHORIZATION state of one connection (RFC 1939 §4, RFC 2449, 2595, 5034, 6856): the
 * greeting's APOP timestamp, the name a USER gave, a SASL exchange in progress, and the failed
 * logins and commands counted before login. A login that succeeds resolves to the open maildrop
 * (`LoggedIn`), and the connection moves on to a `TransactionPhase`; this phase is then done.
 */
export class AuthorizationPhase {
  readonly #host: PhaseHost;
  /** The `<...>` of the greeting: APOP's timestamp (RFC 1939 §7: unique per connection). */
  readonly #timestamp: string;
  /** The name given by a successful USER, waiting for PASS. */
  #pendingUser: string | undefined;
  #sasl: SaslState | undefined;
  #failures = 0;
  #commands = 0;

  constructor(host: PhaseHost) {
    this.#host = host;
    this.#timestamp = uniqueTimestamp(host.context.options.hostname);
  }

  /** The greeting, with the APOP timestamp when APOP is offered. */
  greeting(): Greeting {
    const { options } = this.#host.context;
    return {
      ok: true,
      text: options.greeting,
      ...(apopOffered(options) ? { apopTimestamp: this.#timestamp } : {}),
    };
  }

  /**
   * Answers one command. Returns a promise when the answer waits (a login, a long listing); it
   * resolves to the open maildrop when the command logged the client in.
   */
  command(command: Pop3Command): Promise<LoggedIn | undefined> | undefined {
    const host = this.#host;
    if (++this.#commands > host.context.options.limits.maxCommandsBeforeLogin) {
      host.closeWith({ ok: false, text: "too many commands before login" });
      return undefined;
    }
    switch (command.name) {
      case "CAPA":
        answerCapa(host);
        return undefined;
      case "USER":
        if (!cleartextAllowed(host.context.options, host.tls)) {
          host.reply(CLEARTEXT_REFUSED);
          return undefined;
        }
        this.#pendingUser = command.user;
        host.reply({ ok: true, text: "send PASS" });
        return undefined;
      case "PASS": {
        // Core accepts PASS only right after a successful USER, so the name is there.
        const user = this.#pendingUser as string;
        const password = command.password;
        const { auth } = host.context.options;
        return this.#login(user, "USER", (context) => auth.verifyPassword(user, password, context));
      }
      case "APOP":
        return this.#apop(command.user, command.digest);
      case "AUTH":
        if (command.mechanism === undefined) {
          // Not in RFC 5034, but Dovecot answers a bare AUTH with the list, and Outlook relies on it.
          const mechanisms = usableMechanisms(host.context.options, host.tls);
          host.replyLines({ ok: true, text: "SASL mechanisms follow" }, mechanisms);
          return undefined;
        }
        return this.#startSasl(command.mechanism, command.initialResponse);
      case "STLS":
        if (host.context.tls === undefined) {
          host.reply({ ok: false, text: "STLS not available" });
        } else {
          // The connection starts TLS once this is sent; core drops what was pipelined after STLS.
          host.reply({ ok: true, text: "begin TLS negotiation" });
        }
        return undefined;
      case "UTF8":
        host.reply({ ok: true, text: "UTF8 enabled" });
        return undefined;
      case "LANG":
        answerLang(host, command.tag);
        return undefined;
      case "QUIT":
        host.reply({ ok: true, text: "bye" });
        host.end();
        return undefined;
      default:
        answerUnknown(host);
        return undefined;
    }
  }

  /** The client's answer to a challenge, or its `*`. */
  async saslResponse(event: SaslEvent): Promise<LoggedIn | undefined> {
    const state = this.#sasl as SaslState;
    this.#sasl = undefined;
    if (event.type === "sasl-cancelled") {
      this.#host.reply(event.reply);
      return undefined;
    }
    if (state.failing) {
      this.#fail(undefined);
      return undefined;
    }
    return this.#saslStep(state, state.exchange.step(event.response));
  }

  async #apop(user: string, digest: string): Promise<LoggedIn | undefined> {
    const { options } = this.#host.context;
    if (!apopOffered(options)) {
      this.#host.reply({ ok: false, text: "APOP not available" });
      return undefined;
    }
    return this.#login(user, "APOP", (context) =>
      verifyApop(options.auth, this.#timestamp, user, digest, context),
    );
  }

  async #startSasl(
    mechanism: string,
    initialResponse: Secret<string> | undefined,
  ): Promise<LoggedIn | undefined> {
    const host = this.#host;
    const refusal = mechanismRefusal(host.context.options, host.tls, mechanism);
    if (refusal !== undefined) {
      host.reply(refusal);
      return undefined;
    }
    const exchange = createSaslServerExchange(mechanism, {
      cramMd5Challenge: uniqueTimestamp(host.context.options.hostname),
    }) as SaslServerExchange;
    let initial: Uint8Array | undefined;
    try {
      initial =
        initialResponse === undefined ? undefined : decodeBase64Strict(initialResponse.reveal());
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) throw error;
      host.reply({ ok: false, text: "invalid base64 in initial response" });
      return undefined;
    }
    return this.#saslStep({ exchange, failing: false }, exchange.start(initial));
  }

  async #saslStep(state: SaslState, step: SaslServerStep): Promise<LoggedIn | undefined> {
    const host = this.#host;
    switch (step.type) {
      case "challenge":
        this.#sasl = state;
        host.challenge(step.challenge);
        return undefined;
      case "failed":
        host.context.options.logger.info(
          { connection: host.id, reason: step.reason },
          "SASL exchange failed",
        );
        observe(host.context.options.observer, "onLogin", state.exchange.mechanism, "failed");
        this.#fail(undefined);
        return undefined;
      case "done": {
        const { credentials } = step;
        const { auth } = host.context.options;
        return this.#login(
          credentials.username,
          credentials.mechanism,
          (context) => verifySaslCredentials(auth, credentials, context),
          state,
        );
      }
    }
  }

  /**
   * One login attempt, answered: `+OK` with the maildrop's size, or the verdict's `-ERR`. `sasl`:
   * the exchange that produced the credentials, for an OAuth token's error challenge.
   */
  async #login(
    claimedUser: string | undefined,
    mechanism: Mechanism,
    check: (context: AuthContext) => Promise<AuthResult>,
    sasl?: SaslState,
  ): Promise<LoggedIn | undefined> {
    const host = this.#host;
    const verdict: LoginVerdict = await attemptLogin(host, claimedUser, mechanism, check);
    switch (verdict.type) {
      case "ok": {
        this.#pendingUser = undefined;
        const { count, size } = verdict.mailbox.stat();
        host.reply({ ok: true, text: `${verdict.user} has ${count} messages (${size} octets)` });
        return { user: verdict.user, mailbox: verdict.mailbox };
      }
      case "failed": {
        const challenge =
          verdict.stage === "credentials" && sasl !== undefined
            ? tokenErrorChallenge(mechanism)
            : undefined;
        if (challenge !== undefined && sasl !== undefined) {
          this.#sasl = { ...sasl, failing: true };
          host.challenge(challenge);
          return undefined;
        }
        this.#fail(verdict.user, mechanism);
        return undefined;
      }
      case "refused":
        host.reply(verdict.reply);
        if (verdict.end) host.end();
        return undefined;
      case "gone":
        return undefined;
    }
  }

  /** A failed login: `-ERR [AUTH]`; too many in one session close the connection. */
  #fail(user: string | undefined, mechanism?: Mechanism): void {
    const host = this.#host;
    host.context.stats.authFailures += 1;
    this.#failures += 1;
    host.context.options.logger.info(
      { connection: host.id, address: host.remoteAddress, user, mechanism },
      "login failed",
    );
    host.reply(AUTH_FAILED);
    if (this.#failures >= host.context.options.limits.maxAuthFailures) host.end();
  }
}
