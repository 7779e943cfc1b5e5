import { BackendError } from "pop3-server";

/**
 * The maildrop lock of a session was lost: the node's lock connection ended (database restart,
 * `pg_terminate_backend`, network) after the session logged in, so another session may hold the
 * maildrop now. `commit` deletes nothing and rejects with it (`-ERR [SYS/TEMP] some deleted
 * messages not removed`); reads reject with it too. Code `POP3_STORE`, like every store failure.
 */
export class MaildropLockLostError extends BackendError {
  constructor(message = "the maildrop lock was lost (the node's lock connection ended)") {
    super("POP3_STORE", message);
    this.name = "MaildropLockLostError";
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}

/** A `BackendError` (`POP3_STORE`) whose message ends with its cause's. */
export function backendError(message: string, cause: unknown): BackendError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new BackendError("POP3_STORE", `${message}${detail}`, { cause });
}

export function closedMaildropError(): BackendError {
  return new BackendError("POP3_STORE", "the maildrop is closed (committed or released)");
}

export function closedStoreError(): BackendError {
  return new BackendError("POP3_STORE", "the store is closed");
}
