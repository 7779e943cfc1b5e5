import type { StatusReply } from "pop3-core";
import { PasswordHashBusyError } from "./auth/hash-pool";
import type { AuthContext, AuthResult } from "./auth/types";
import { InvalidUserError, MaildropInUseError } from "./errors";
import { Mailbox } from "./mailbox";
import { observe } from "./observer";
import type { PhaseHost } from "./phase-host";
import { UnsafeMaildropError } from "./store/common";

export type Mechanism = AuthContext["mechanism"];

/** How a login attempt ended; the AUTHORIZATION phase turns it into the answer. */
export type LoginVerdict =
  /** Credentials accepted, maildrop open and locked: the TRANSACTION state can begin. */
  | { readonly type: "ok"; readonly user: string; readonly mailbox: Mailbox }
  /**
   * Wrong credentials (`stage: "credentials"`) or a user name no maildrop can have (`"user"`):
   * `-ERR [AUTH]`, counted as a failed login of the session.
   */
  | { readonly type: "failed"; readonly user: string | undefined; readonly stage: Stage }
  /** Refused for another reason, with its answer; `end`: close the connection after it. */
  | { readonly type: "refused"; readonly reply: StatusReply; readonly end: boolean }
  /** The client left while the login ran: nothing to answer, nothing held. */
  | { readonly type: "gone" };

type Stage = "credentials" | "user";

const SYS_TEMP = (text: string): StatusReply => ({ ok: false, code: "SYS/TEMP", text });

/**
 * Runs one login attempt: the failed-login throttle, the credential `check`, LOGIN-DELAY, then
 * opening (and locking) the maildrop. Answers nothing itself; every path reports to the observer
 * exactly once.
 */
export async function attemptLogin(
  host: PhaseHost,
  claimedUser: string | undefined,
  mechanism: Mechanism,
  check: (context: AuthContext) => Promise<AuthResult>,
): Promise<LoginVerdict> {
  const checked = await checkCredentials(host, claimedUser, mechanism, check);
  if (checked.type !== "accepted") return checked;
  const { options, loginDelays } = host.context;
  const user = checked.user;
  if (options.loginDelaySeconds !== undefined && options.loginDelaySeconds > 0) {
    const verdict = loginDelays.check(user, options.loginDelaySeconds);
    if (!verdict.allowed) {
      observe(options.observer, "onLogin", mechanism, "delayed");
      const text = `wait ${verdict.retryAfterSeconds} seconds between logins`;
      return { type: "refused", reply: { ok: false, code: "LOGIN-DELAY", text }, end: false };
    }
  }
  const opened = await openMailbox(host, user, mechanism);
  if (opened.type !== "ok") return opened;
  if (host.closed) {
    // The client left while the maildrop was opening: give the lock back at once.
    await opened.mailbox.maildrop.release();
    return { type: "gone" };
  }
  loginDelays.recordLogin(user);
  observe(options.observer, "onLogin", mechanism, "ok");
  return opened;
}

/**
 * The throttle and the credential check. Capped addresses and users are refused before any
 * check; addresses with recent failures wait first; the check itself runs with the hash pool at
 * the priority the address has earned.
 */
async function checkCredentials(
  host: PhaseHost,
  claimedUser: string | undefined,
  mechanism: Mechanism,
  check: (context: AuthContext) => Promise<AuthResult>,
): Promise<{ readonly type: "accepted"; readonly user: string } | LoginVerdict> {
  const { context } = host;
  const { options } = context;
  const admission = context.throttle.begin({ address: host.remoteAddress, user: claimedUser });
  if (!admission.allowed) {
    // Capped: refused before any check, so a guess here costs the guesser, not our CPU, and the
    // answer says nothing about the password. [SYS/TEMP], not [AUTH]: the credentials may well
    // be right (RFC 3206 §4), and a real client should retry later, not ask for a new password.
    options.logger.warn(
      {
        connection: host.id,
        address: host.remoteAddress,
        user: claimedUser,
        cap: admission.reason,
      },
      "login refused: too many failed logins",
    );
    observe(options.observer, "onLogin", mechanism, "failed");
    return { type: "refused", reply: SYS_TEMP("too many failed logins, try later"), end: true };
  }

  // Everything below waits on the client's behalf: stop waiting (sleep, hash queue) once it left.
  const gone = host.closedSignal;
  let outcome: "success" | "failure" | "none" = "none";
  let result: AuthResult;
  try {
    // Only addresses with recent failures wait; every attempt from them waits the same, right
    // password or not, so timing tells nothing. The delay is per connection; the cap bounds how
    // many such waits an address gets.
    if (admission.delayMs > 0) await sleep(admission.delayMs, gone);
    if (host.closed) return { type: "gone" };
    const priority = admission.clean ? "high" : "low";
    result = await check({
      remoteAddress: host.remoteAddress,
      tls: host.tls,
      mechanism,
      hashing: (request) => context.hashPool.run(request, { priority, signal: gone }),
    });
    outcome = result.ok ? "success" : "failure";
  } catch (error) {
    observe(options.observer, "onLogin", mechanism, "error");
    if (error instanceof PasswordHashBusyError) {
      // Not a verdict on the password: neither a failure nor a success.
      options.logger.warn(
        { connection: host.id, address: host.remoteAddress, reason: error.reason },
        "login refused: password hashing busy",
      );
      if (host.closed) return { type: "gone" };
      return { type: "refused", reply: SYS_TEMP("server busy, try later"), end: false };
    }
    options.logger.error(
      { connection: host.id, mechanism, err: errorText(error) },
      "authentication backend failed",
    );
    const text = "authentication backend unavailable, try later";
    return { type: "refused", reply: SYS_TEMP(text), end: false };
  } finally {
    admission.finish(outcome);
  }
  if (!result.ok) {
    observe(options.observer, "onLogin", mechanism, "failed");
    return { type: "failed", user: claimedUser, stage: "credentials" };
  }
  return { type: "accepted", user: result.user };
}

/** Opens and locks the user's maildrop; each way it can fail has its own answer. */
async function openMailbox(
  host: PhaseHost,
  user: string,
  mechanism: Mechanism,
): Promise<LoginVerdict> {
  const { options } = host.context;
  try {
    return { type: "ok", user, mailbox: new Mailbox(await options.store.openMaildrop(user)) };
  } catch (error) {
    if (error instanceof MaildropInUseError) {
      observe(options.observer, "onInUse");
      observe(options.observer, "onLogin", mechanism, "in-use");
      const text = "maildrop already locked by another session";
      return { type: "refused", reply: { ok: false, code: "IN-USE", text }, end: false };
    }
    if (error instanceof InvalidUserError) {
      observe(options.observer, "onLogin", mechanism, "failed");
      return { type: "failed", user, stage: "user" };
    }
    observe(options.observer, "onLogin", mechanism, "error");
    if (error instanceof UnsafeMaildropError) {
      // A symlink where the store refuses one: trying later will not help, an administrator must.
      options.logger.error(
        { connection: host.id, user, err: errorText(error) },
        "maildrop refused as unsafe",
      );
      const text = "maildrop unavailable, contact the administrator";
      return { type: "refused", reply: { ok: false, code: "SYS/PERM", text }, end: false };
    }
    options.logger.error(
      { connection: host.id, user, err: errorText(error) },
      "opening the maildrop failed",
    );
    return { type: "refused", reply: SYS_TEMP("maildrop unavailable, try later"), end: false };
  }
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
