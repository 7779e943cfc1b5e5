import { concatBytes, decodeTextLenient, encodeText } from "../bytes";
import { LocalProtocolError, RemoteProtocolError } from "../errors";
import { LINE_TOO_LONG, LineReader } from "../framing/line-reader";
import { MultilineEncoder } from "../framing/multiline-encoder";
import { parseCommand } from "../parse/command";
import { decodeBase64Strict, encodeBase64 } from "../sasl/base64";
import { serializeContinuation } from "../serialize/sasl";
import { serializeGreeting, serializeStatusLine } from "../serialize/status";
import { type CommandLimits, DEFAULT_COMMAND_LIMITS, type Pop3Command } from "../types/command";
import type { Greeting, StatusReply } from "../types/reply";
import type { SessionState } from "../types/state";
import { NEED_DATA, PAUSED } from "./signals";
import { type CommandKey, commandKey, hasMultilineReply, isAccepted, nextState } from "./table";

/** States in which the session reads lines from the client. */
const READING_STATES: readonly SessionState[] = ["AUTHORIZATION", "SASL", "TRANSACTION"];

/**
 * What a server session reads from the client. Every event except `command` and `sasl-response`
 * comes with the `-ERR` that answers it (`reply`), which the caller may send as it is.
 */
export type ServerEvent =
  | { readonly type: "command"; readonly command: Pop3Command }
  | {
      readonly type: "rejected";
      /** Set when the line parsed but is not allowed now. */
      readonly command?: Pop3Command;
      readonly error: RemoteProtocolError;
      readonly reply: StatusReply;
    }
  /** The client's answer to a SASL challenge, base64-decoded. */
  | { readonly type: "sasl-response"; readonly response: Uint8Array }
  /** The client sent `*` (RFC 5034 §4); answer it with `-ERR`. */
  | { readonly type: "sasl-cancelled"; readonly reply: StatusReply };

export interface ServerSessionOptions {
  readonly limits?: Partial<CommandLimits>;
  /** The connection is TLS from the start (implicit TLS, RFC 8314): STLS is then refused. */
  readonly tls?: boolean;
}

/** The command being answered; a rejected line has neither command nor key but still needs its -ERR. */
interface Pending {
  readonly command?: Pop3Command;
  readonly key?: CommandKey;
}

/**
 * The server side of one POP3 connection, without I/O (in the style of h11): feed it the bytes
 * the client sent with `receiveData`, take commands from `nextEvent`, and turn each answer into
 * bytes with `sendReply`, `sendMultiline*` or `sendChallenge`.
 *
 * Commands are given one at a time: after a `command` event, `nextEvent` returns `PAUSED` until
 * the answer has been sent. That keeps pipelined commands strictly in order (RFC 2449 §6.6).
 */
export class ServerSession {
  readonly limits: CommandLimits;
  #state: SessionState = "GREETING";
  #reader: LineReader;
  #pending: Pending | undefined;
  /** An event was given and its answer has not been sent yet. */
  #answerDue = false;
  #body: MultilineEncoder | undefined;
  #userAccepted = false;
  #tls: boolean;
  #utf8 = false;
  #discardedAfterStls = 0;

  constructor(options: ServerSessionOptions = {}) {
    this.limits = { ...DEFAULT_COMMAND_LIMITS, ...options.limits };
    this.#tls = options.tls ?? false;
    // AUTH lines may carry a long initial response; parseCommand holds other commands to the line limit.
    this.#reader = new LineReader(
      Math.max(this.limits.maxLineLength, this.limits.maxSaslLineLength),
    );
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The connection is protected by TLS (implicit, or after STLS). */
  get tls(): boolean {
    return this.#tls;
  }

  /** The client enabled UTF-8 mode with the UTF8 command (RFC 6856). */
  get utf8(): boolean {
    return this.#utf8;
  }

  /** Bytes thrown away because they arrived after STLS and before TLS (RFC 2595 §4). */
  get discardedAfterStls(): number {
    return this.#discardedAfterStls;
  }

  /** Bytes received and not yet read as commands (pipelined input waiting its turn). */
  get bufferedBytes(): number {
    return this.#reader.buffered;
  }

  /** The command being answered, if any. */
  get pendingCommand(): Pop3Command | undefined {
    return this.#pending?.command;
  }

  /** The first bytes of the session. A negative greeting closes the session. */
  greet(greeting: Greeting): Uint8Array {
    this.#expectState("GREETING", "greet");
    this.#state = greeting.ok ? "AUTHORIZATION" : "CLOSED";
    return line(serializeGreeting(greeting));
  }

  receiveData(chunk: Uint8Array): void {
    if (this.#state === "TLS_HANDSHAKE") {
      // Plaintext arriving now was sent before TLS: it must never become a command.
      this.#discardedAfterStls += chunk.length;
      return;
    }
    if (this.#state === "CLOSED") return;
    this.#reader.push(chunk);
  }

  nextEvent(): ServerEvent | typeof NEED_DATA | typeof PAUSED {
    if (this.#answerDue || !READING_STATES.includes(this.#state)) return PAUSED;
    const read = this.#reader.readLine();
    if (read === undefined) return NEED_DATA;
    this.#answerDue = true;
    if (this.#state === "SASL") return this.#saslEvent(read);
    if (read === LINE_TOO_LONG) {
      return this.#reject(new RemoteProtocolError("POP3_LINE_TOO_LONG", "command line too long"));
    }

    let command: Pop3Command;
    try {
      command = parseCommand(read, this.limits);
    } catch (error) {
      if (error instanceof RemoteProtocolError) return this.#reject(error);
      throw error;
    }
    const key = commandKey(command);
    const refusal = this.#refusal(command, key);
    if (refusal !== undefined) {
      return this.#reject(new RemoteProtocolError("POP3_BAD_STATE", refusal), command);
    }
    this.#pending = { command, key };
    this.#state = nextState(this.#state, key, "sent");
    return { type: "command", command };
  }

  /** A single-line answer to the pending command (or the final `+OK`/`-ERR` of a SASL exchange). */
  sendReply(reply: StatusReply): Uint8Array {
    if (this.#body !== undefined) throw misuse("sendReply: a multi-line answer is in progress");
    this.#finish(this.#requirePending("sendReply"), reply.ok ? "ok" : "err");
    return line(serializeStatusLine(reply));
  }

  /** The `+OK` line of a multi-line answer; follow with `sendMultilineData` and `sendMultilineEnd`. */
  sendMultilineStart(reply: StatusReply): Uint8Array {
    const pending = this.#requirePending("sendMultilineStart");
    if (!reply.ok) throw misuse("a multi-line answer starts with +OK; send -ERR with sendReply");
    if (pending.command === undefined || hasMultilineReply(pending.command) === false) {
      throw misuse("this command has a single-line answer");
    }
    if (this.#body !== undefined) throw misuse("a multi-line answer is already being sent");
    this.#body = new MultilineEncoder();
    return line(serializeStatusLine(reply));
  }

  /** Message or listing bytes, dot-stuffed and CRLF-normalised on the way out. */
  sendMultilineData(chunk: Uint8Array): Uint8Array {
    if (this.#body === undefined) throw misuse("sendMultilineStart must come first");
    return this.#body.push(chunk);
  }

  /**
   * The RFC 1939 size of the multi-line answer in progress so far (see `MultilineEncoder.octets`);
   * 0 when none is. RETR compares it with the `n octets` it announced before ending the answer.
   */
  get multilineOctets(): number {
    return this.#body?.octets ?? 0;
  }

  /** The end of the multi-line answer; the next command can then be read. */
  sendMultilineEnd(): Uint8Array {
    const body = this.#body;
    if (body === undefined) throw misuse("sendMultilineStart must come first");
    this.#body = undefined;
    this.#finish(this.#requirePending("sendMultilineEnd"), "ok");
    return body.end();
  }

  /** Text lines of the multi-line answer in progress; a long listing can go out in slices. */
  sendMultilineLines(lines: readonly string[]): Uint8Array {
    return this.sendMultilineData(encodeText(lines.map((l) => `${l}\r\n`).join("")));
  }

  /** A whole multi-line answer made of text lines (CAPA, LIST, UIDL, bare AUTH). */
  sendLines(reply: StatusReply, lines: readonly string[]): Uint8Array {
    const head = this.sendMultilineStart(reply);
    const body = this.sendMultilineLines(lines);
    return concatBytes([head, body, this.sendMultilineEnd()]);
  }

  /** A SASL challenge (`+ base64`) for the pending AUTH; the client's answer comes as `sasl-response`. */
  sendChallenge(challenge: Uint8Array): Uint8Array {
    const pending = this.#requirePending("sendChallenge");
    if (pending.key !== "AUTH") throw misuse("challenges answer AUTH with a mechanism only");
    this.#answerDue = false;
    this.#state = nextState(this.#state, "AUTH", "continue");
    return line(serializeContinuation(encodeBase64(challenge)));
  }

  /** Call when the TLS handshake after STLS has completed. */
  tlsEstablished(): void {
    this.#expectState("TLS_HANDSHAKE", "tlsEstablished");
    this.#tls = true;
    this.#state = "AUTHORIZATION";
  }

  /**
   * Ends the session with a last unsolicited line (autologout, shutdown, too many errors) and
   * returns its bytes. Whatever was pending is abandoned.
   */
  closeWith(reply: StatusReply): Uint8Array {
    this.close();
    return line(serializeStatusLine(reply));
  }

  /** Marks the session closed (connection gone, timeout, shutdown); nothing more is read. */
  close(): void {
    this.#state = "CLOSED";
    this.#pending = undefined;
    this.#answerDue = false;
    this.#body = undefined;
  }

  #refusal(command: Pop3Command, key: CommandKey): string | undefined {
    if (!isAccepted(this.#state, key)) return `${command.name} is not valid in this state`;
    if (key === "PASS" && !this.#userAccepted) return "PASS must follow a successful USER";
    if (key === "STLS" && this.#tls) return "TLS is already active";
    return undefined;
  }

  #saslEvent(read: Uint8Array | typeof LINE_TOO_LONG): ServerEvent {
    // Any line ends the exchange unless it is a valid response that the caller answers.
    if (read === LINE_TOO_LONG) {
      return this.#reject(new RemoteProtocolError("POP3_LINE_TOO_LONG", "SASL response too long"));
    }
    if (read.length === 1 && read[0] === 0x2a) {
      return { type: "sasl-cancelled", reply: { ok: false, text: "authentication cancelled" } };
    }
    try {
      return { type: "sasl-response", response: decodeBase64Strict(decodeTextLenient(read)) };
    } catch (error) {
      if (error instanceof RemoteProtocolError) return this.#reject(error);
      throw error;
    }
  }

  /** A line that gets `-ERR`. Inside SASL the pending AUTH stays, so the `-ERR` also ends the exchange. */
  #reject(error: RemoteProtocolError, command?: Pop3Command): ServerEvent {
    if (this.#state !== "SASL") this.#pending = {};
    const reply: StatusReply = { ok: false, text: error.message };
    return command === undefined
      ? { type: "rejected", error, reply }
      : { type: "rejected", command, error, reply };
  }

  #finish(pending: Pending, outcome: "ok" | "err"): void {
    this.#pending = undefined;
    this.#answerDue = false;
    if (pending.key !== undefined) this.#state = nextState(this.#state, pending.key, outcome);
    this.#userAccepted = pending.key === "USER" && outcome === "ok";
    if (pending.key === "UTF8" && outcome === "ok") this.#utf8 = true;
    if (this.#state === "TLS_HANDSHAKE") {
      // RFC 2595 §4 / CVE-2011-0411: whatever the client pipelined after STLS is dropped unread.
      this.#discardedAfterStls += this.#reader.takeRest().length;
    }
  }

  #requirePending(method: string): Pending {
    if (this.#pending === undefined) throw misuse(`${method}: no command is waiting for an answer`);
    return this.#pending;
  }

  #expectState(state: SessionState, method: string): void {
    if (this.#state !== state)
      throw misuse(`${method} is only valid in ${state}, not ${this.#state}`);
  }
}

function line(text: string): Uint8Array {
  return encodeText(`${text}\r\n`);
}

function misuse(message: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_STATE", message);
}
