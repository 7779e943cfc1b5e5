import type { Pop3Command, Pop3CommandName } from "../types/command";
import type { SessionState } from "../types/state";

/**
 * The POP3 session state machine as data, shared by the server and the client session.
 *
 * A command is accepted in a state when `ACCEPTED` lists it. What happens next depends on the
 * outcome of the command: `sent` (the moment the command is read or written), `ok`, `err`, or
 * `continue` (a SASL `+ ` challenge). Pairs not listed leave the state as it is.
 */
export type Outcome = "sent" | "ok" | "err" | "continue";

/** A bare `AUTH` (list the mechanisms) behaves unlike `AUTH mechanism`, so it has its own key. */
export type CommandKey = Pop3CommandName | "AUTH-LIST";

export interface Transition {
  readonly from: SessionState;
  readonly command: CommandKey;
  readonly outcome: Outcome;
  readonly to: SessionState;
}

const ANY_TIME: readonly CommandKey[] = ["CAPA", "LANG", "UNKNOWN"];

export const ACCEPTED: Readonly<Record<SessionState, readonly CommandKey[]>> = {
  GREETING: [],
  AUTHORIZATION: [...ANY_TIME, "USER", "PASS", "APOP", "AUTH", "AUTH-LIST", "STLS", "UTF8", "QUIT"],
  // Inside an AUTH exchange, lines are SASL responses, not commands.
  SASL: [],
  TLS_HANDSHAKE: [],
  TRANSACTION: [...ANY_TIME, "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "QUIT"],
  UPDATE: [],
  CLOSED: [],
};

/**
 * Commands that nothing may follow until they are answered, pipelining or not: after STLS the
 * next bytes are TLS, after AUTH they are SASL responses (RFC 2449 §6.6, RFC 2595 §4), and after
 * QUIT the server closes.
 */
export const ENDS_PIPELINE: readonly CommandKey[] = ["STLS", "AUTH", "QUIT"];

export const TRANSITIONS: readonly Transition[] = [
  { from: "AUTHORIZATION", command: "PASS", outcome: "ok", to: "TRANSACTION" },
  { from: "AUTHORIZATION", command: "APOP", outcome: "ok", to: "TRANSACTION" },
  // An initial response can be accepted at once, or answered with a challenge.
  { from: "AUTHORIZATION", command: "AUTH", outcome: "ok", to: "TRANSACTION" },
  { from: "AUTHORIZATION", command: "AUTH", outcome: "continue", to: "SASL" },
  { from: "SASL", command: "AUTH", outcome: "ok", to: "TRANSACTION" },
  { from: "SASL", command: "AUTH", outcome: "err", to: "AUTHORIZATION" },
  { from: "AUTHORIZATION", command: "STLS", outcome: "ok", to: "TLS_HANDSHAKE" },
  { from: "AUTHORIZATION", command: "QUIT", outcome: "ok", to: "CLOSED" },
  { from: "AUTHORIZATION", command: "QUIT", outcome: "err", to: "CLOSED" },
  // RFC 1939 §6: QUIT in TRANSACTION enters UPDATE; the session ends whatever the outcome.
  { from: "TRANSACTION", command: "QUIT", outcome: "sent", to: "UPDATE" },
  { from: "UPDATE", command: "QUIT", outcome: "ok", to: "CLOSED" },
  { from: "UPDATE", command: "QUIT", outcome: "err", to: "CLOSED" },
];

export function commandKey(command: Pop3Command): CommandKey {
  return command.name === "AUTH" && command.mechanism === undefined ? "AUTH-LIST" : command.name;
}

export function isAccepted(state: SessionState, key: CommandKey): boolean {
  return ACCEPTED[state].includes(key);
}

export function endsPipeline(key: CommandKey): boolean {
  return ENDS_PIPELINE.includes(key);
}

export function nextState(state: SessionState, key: CommandKey, outcome: Outcome): SessionState {
  const row = TRANSITIONS.find(
    (t) => t.from === state && t.command === key && t.outcome === outcome,
  );
  return row === undefined ? state : row.to;
}

/**
 * Whether a `+OK` to this command is followed by a multi-line body (RFC 1939, RFC 2449 §5 CAPA,
 * RFC 5034 bare AUTH as Dovecot answers it, RFC 6856 §3 bare LANG). `undefined` for an unknown
 * command: only its caller knows.
 */
export function hasMultilineReply(command: Pop3Command): boolean | undefined {
  switch (command.name) {
    case "RETR":
    case "TOP":
    case "CAPA":
      return true;
    case "LIST":
    case "UIDL":
      return command.msg === undefined;
    case "AUTH":
      return command.mechanism === undefined;
    case "LANG":
      return command.tag === undefined;
    case "UNKNOWN":
      return undefined;
    default:
      return false;
  }
}

/** The state once the peer has answered: the `sent` step, then the outcome's. */
export function stateAfterReply(
  state: SessionState,
  key: CommandKey,
  outcome: Outcome,
): SessionState {
  return nextState(nextState(state, key, "sent"), key, outcome);
}
