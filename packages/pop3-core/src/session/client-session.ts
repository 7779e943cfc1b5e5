import { concatBytes, decodeTextLenient, encodeText } from "../bytes";
import { LocalProtocolError, RemoteProtocolError } from "../errors";
import { LINE_TOO_LONG, LineReader } from "../framing/line-reader";
import { MultilineDecoder } from "../framing/multiline-decoder";
import { parseCapabilities } from "../parse/capability";
import { isContinuationLine, parseContinuation } from "../parse/sasl";
import { parseGreeting, parseStatusLine } from "../parse/status";
import { decodeBase64Strict, encodeBase64 } from "../sasl/base64";
import { encodeCommand } from "../serialize/command";
import type { Pop3Command } from "../types/command";
import type { Greeting, StatusReply } from "../types/reply";
import type { SessionState } from "../types/state";
import { NEED_DATA } from "./signals";
import {
  ACCEPTED,
  type CommandKey,
  commandKey,
  endsPipeline,
  hasMultilineReply,
  isAccepted,
  nextState,
  stateAfterReply,
} from "./table";

/**
 * Every event that answers a command names it, and carries the `context` it was sent with
 * (`SendOptions.context`), so a caller can route answers without a queue of its own.
 */
interface Answering<Context> {
  readonly command: Pop3Command;
  readonly context: Context | undefined;
}

/** What a client session reads from the server. */
export type ClientEvent<Context = unknown> =
  | { readonly type: "greeting"; readonly greeting: Greeting }
  /** A complete single-line answer, or the `-ERR` to a command whose `+OK` would be multi-line. */
  | ({ readonly type: "reply"; readonly reply: StatusReply } & Answering<Context>)
  /** The `+OK` of a message body (RETR, TOP, or an unknown command sent as multi-line). */
  | ({ readonly type: "body-start"; readonly reply: StatusReply } & Answering<Context>)
  /** Unstuffed message bytes; views into received chunks, so copy them to keep them. */
  | ({ readonly type: "body-data"; readonly data: Uint8Array } & Answering<Context>)
  | ({ readonly type: "body-end"; readonly size: number } & Answering<Context>)
  /** A whole text listing (LIST, UIDL, CAPA, bare AUTH, bare LANG), split into lines. */
  | ({
      readonly type: "listing";
      readonly reply: StatusReply;
      readonly lines: readonly string[];
    } & Answering<Context>)
  /** A SASL challenge, base64-decoded; answer with `sendSaslResponse` or `cancelSasl`. */
  | ({ readonly type: "sasl-challenge"; readonly challenge: Uint8Array } & Answering<Context>);

/**
 * True for the event that ends what it answers: the greeting, a `reply`, a `listing`, a
 * `body-end`. After it, the command has left `inFlight`; `body-start`, `body-data` and
 * `sasl-challenge` always have more to come.
 */
export function isFinalEvent(event: ClientEvent<unknown>): boolean {
  return (
    event.type === "greeting" ||
    event.type === "reply" ||
    event.type === "listing" ||
    event.type === "body-end"
  );
}

export interface ClientSessionOptions {
  /** Longest status line accepted, CRLF included. RFC 2449 §4 says 512; real servers go past it. */
  readonly maxLineLength?: number;
  /** Largest message body accepted. Default: no limit (bodies stream and are not buffered). */
  readonly maxBodySize?: number;
  /** Largest text listing (UIDL of a big mailbox, CAPA), which is buffered. Default 64 MiB. */
  readonly maxListingSize?: number;
  /** Accept bare LF as a line end in multi-line answers, for broken servers. */
  readonly lenientLineEnds?: boolean;
  /** The connection is TLS from the start (implicit TLS). */
  readonly tls?: boolean;
  /**
   * Pipeline when the server advertises PIPELINING (RFC 2449 §6.6); `false` never does. Default
   * true. It decides `readyToSend`; `send` itself writes whatever the protocol allows.
   */
  readonly pipelining?: boolean;
}

export interface SendOptions<Context = unknown> {
  /** For an unknown command: whether its `+OK` is followed by a multi-line body. */
  readonly multiline?: boolean;
  /** Any value of the caller's, given back on every event that answers this command. */
  readonly context?: Context;
}

interface InFlight<Context> {
  readonly command: Pop3Command;
  readonly context: Context | undefined;
  readonly key: CommandKey;
  /** How a `+OK` continues: a streamed body, a buffered listing, or nothing. */
  readonly shape: "single" | "body" | "listing";
}

/** Answers whose `+OK` is a listing of short text lines, buffered whole; others stream. */
function replyShape(
  command: Pop3Command,
  multiline: boolean | undefined,
): InFlight<unknown>["shape"] {
  const known = hasMultilineReply(command);
  const isMultiline = known ?? multiline;
  if (isMultiline === undefined) {
    throw new LocalProtocolError(
      "POP3_BAD_ARGUMENT",
      `say whether the answer to ${command.name === "UNKNOWN" ? command.keyword : command.name} is multi-line`,
    );
  }
  if (!isMultiline) return "single";
  return command.name === "RETR" || command.name === "TOP" || command.name === "UNKNOWN"
    ? "body"
    : "listing";
}

const STAR = encodeText("*\r\n");
const DEFAULT_MAX_LINE = 8192;
const DEFAULT_MAX_LISTING = 64 * 1024 * 1024;

/**
 * The client side of one POP3 connection, without I/O (in the style of h11): `send` turns commands
 * into bytes, `receiveData` takes what the server sent, and `nextEvent` gives typed events.
 *
 * The session keeps the commands in flight in order, so it always knows whether the next answer is
 * single-line, a body or a listing: this is what makes pipelining safe. It refuses to send after
 * STLS, AUTH or QUIT until they are answered (RFC 2449 §6.6), and treats any byte the server sends
 * after its `+OK` to STLS as an attack (RFC 2595 §4).
 *
 * A shell asks `readyToSend` before writing the next command: it holds the pipelining rules
 * (PIPELINING as advertised in the last CAPA answer, forgotten when TLS starts). Each command may
 * carry a `context`, which comes back on the events of its answer; `isFinalEvent` tells which
 * event ends it.
 */
export class ClientSession<Context = unknown> {
  readonly #reader: LineReader;
  readonly #options: ClientSessionOptions;
  #state: SessionState = "GREETING";
  #inFlight: InFlight<Context>[] = [];
  /** PIPELINING was in the last CAPA answer, and no TLS handshake came after it. */
  #pipeliningAdvertised = false;
  #decoder: MultilineDecoder | undefined;
  #listing: Uint8Array[] = [];
  #listingReply: StatusReply | undefined;
  #tls: boolean;
  #failed: RemoteProtocolError | undefined;
  /** Events decoded from one chunk and not handed out yet. */
  #queued: ClientEvent<Context>[] = [];

  constructor(options: ClientSessionOptions = {}) {
    this.#options = options;
    this.#reader = new LineReader(options.maxLineLength ?? DEFAULT_MAX_LINE);
    this.#tls = options.tls ?? false;
  }

  get state(): SessionState {
    return this.#state;
  }

  get tls(): boolean {
    return this.#tls;
  }

  /** Commands sent and not fully answered yet, oldest first. */
  get inFlight(): readonly Pop3Command[] {
    return this.#inFlight.map((f) => f.command);
  }

  /** The contexts of the commands in `inFlight`, in the same order (`undefined` where none). */
  get inFlightContexts(): readonly (Context | undefined)[] {
    return this.#inFlight.map((f) => f.context);
  }

  /**
   * Whether commands may be pipelined now: the server listed PIPELINING in its last CAPA answer
   * (since TLS started, RFC 2595 §4), and the `pipelining` option allows it.
   */
  get pipelining(): boolean {
    return this.#pipeliningAdvertised && this.#options.pipelining !== false;
  }

  /**
   * Whether the next command may be written now (RFC 2449 §6.6): nothing is in flight, or
   * pipelining is on and the last command in flight is not one that nothing may follow (STLS,
   * AUTH, QUIT). Never during the greeting, a SASL exchange or a TLS handshake, nor once the
   * session has ended or failed.
   */
  get readyToSend(): boolean {
    if (this.#failed !== undefined || ACCEPTED[this.#projectedState()].length === 0) return false;
    const last = this.#inFlight.at(-1);
    return last === undefined || (this.pipelining && !endsPipeline(last.key));
  }

  /**
   * The bytes for `command`. Checks it against the state the session will be in once every command
   * in flight has succeeded, so a pipelined `USER`, `PASS`, `STAT` is allowed. It does not wait for
   * `readyToSend`: writing without PIPELINING is the caller's choice.
   */
  send(command: Pop3Command, options: SendOptions<Context> = {}): Uint8Array {
    const key = commandKey(command);
    const last = this.#inFlight.at(-1);
    if (last !== undefined && endsPipeline(last.key)) {
      throw misuse(`wait for the answer to ${last.key} before sending more (RFC 2449 §6.6)`);
    }
    const state = this.#projectedState();
    if (!isAccepted(state, key)) {
      throw misuse(`${command.name} is not valid in the ${state} state`);
    }
    if (key === "STLS" && this.#tls) throw misuse("TLS is already active");
    const bytes = encodeCommand(command);
    this.#inFlight.push({
      command,
      context: options.context,
      key,
      shape: replyShape(command, options.multiline),
    });
    return bytes;
  }

  /** The answer to a SASL challenge. */
  sendSaslResponse(response: Uint8Array): Uint8Array {
    this.#expectSasl("sendSaslResponse");
    return encodeText(`${encodeBase64(response)}\r\n`);
  }

  /** Cancels the AUTH exchange (`*`); the server answers `-ERR`. */
  cancelSasl(): Uint8Array {
    this.#expectSasl("cancelSasl");
    return STAR;
  }

  /** Call when the TLS handshake after STLS has completed; cached capabilities are now stale. */
  tlsEstablished(): void {
    if (this.#state !== "TLS_HANDSHAKE") throw misuse("tlsEstablished comes after a +OK to STLS");
    this.#tls = true;
    this.#pipeliningAdvertised = false;
    this.#state = "AUTHORIZATION";
  }

  receiveData(chunk: Uint8Array): void {
    if (this.#state === "TLS_HANDSHAKE" && chunk.length > 0) {
      this.#fail(
        new RemoteProtocolError(
          "POP3_UNEXPECTED_DATA",
          "server sent plaintext after its +OK to STLS",
        ),
      );
    }
    this.#reader.push(chunk);
  }

  /**
   * The next event, or `NEED_DATA`. A command leaves `inFlight`, and the state moves on, when the
   * final event of its answer is handed out (`isFinalEvent`). Throws `RemoteProtocolError` when
   * the server broke the protocol.
   */
  nextEvent(): ClientEvent<Context> | typeof NEED_DATA {
    if (this.#failed !== undefined) throw this.#failed;
    try {
      const event = this.#next();
      if (event !== NEED_DATA && event.type !== "greeting" && isFinalEvent(event)) {
        this.#complete(event);
      }
      return event;
    } catch (error) {
      if (error instanceof RemoteProtocolError) this.#fail(error);
      throw error;
    }
  }

  #next(): ClientEvent<Context> | typeof NEED_DATA {
    const queued = this.#queued.shift();
    if (queued !== undefined) return queued;
    if (this.#decoder !== undefined) return this.#readMultiline(this.#decoder);
    const read = this.#reader.readLine();
    if (read === undefined) return NEED_DATA;
    if (read === LINE_TOO_LONG) {
      throw new RemoteProtocolError("POP3_LINE_TOO_LONG", "server sent an over-long line");
    }
    const text = decodeTextLenient(read);

    if (this.#state === "GREETING") {
      const greeting = parseGreeting(text);
      this.#state = greeting.ok ? "AUTHORIZATION" : "CLOSED";
      return { type: "greeting", greeting };
    }

    const current = this.#inFlight[0];
    if (current === undefined) {
      throw new RemoteProtocolError("POP3_UNEXPECTED_DATA", "server sent a line nobody asked for");
    }
    const { command, context } = current;
    if (current.key === "AUTH" && isContinuationLine(text)) {
      this.#state = nextState(this.#state, "AUTH", "continue");
      const challenge = decodeBase64Strict(parseContinuation(text));
      return { type: "sasl-challenge", command, context, challenge };
    }

    const reply = parseStatusLine(text);
    if (reply.ok && current.shape !== "single") {
      this.#decoder = new MultilineDecoder({
        ...(this.#options.lenientLineEnds === undefined
          ? {}
          : { lenientLineEnds: this.#options.lenientLineEnds }),
        maxSize:
          current.shape === "body"
            ? (this.#options.maxBodySize ?? Number.POSITIVE_INFINITY)
            : (this.#options.maxListingSize ?? DEFAULT_MAX_LISTING),
      });
      if (current.shape === "body") return { type: "body-start", command, context, reply };
      this.#listingReply = reply;
      return this.#readMultiline(this.#decoder);
    }
    return { type: "reply", command, context, reply };
  }

  #readMultiline(decoder: MultilineDecoder): ClientEvent<Context> | typeof NEED_DATA {
    const current = this.#inFlight[0] as InFlight<Context>;
    const { command, context } = current;
    for (;;) {
      const pending = this.#reader.takeRest();
      if (pending.length === 0) return NEED_DATA;
      const { data, done, rest } = decoder.push(pending);
      this.#reader.push(rest);
      if (current.shape === "listing") {
        this.#listing.push(...data);
        if (done) return this.#endListing(current);
        continue;
      }
      // Pieces (cut around stuffed dots) go out as events of their own: no copy, no join.
      for (const piece of data)
        this.#queued.push({ type: "body-data", command, context, data: piece });
      if (done) {
        this.#decoder = undefined;
        this.#queued.push({ type: "body-end", command, context, size: decoder.size });
      }
      const event = this.#queued.shift();
      if (event !== undefined) return event;
    }
  }

  #endListing(current: InFlight<Context>): ClientEvent<Context> {
    const bytes = concatBytes(this.#listing);
    this.#listing = [];
    this.#decoder = undefined;
    const reply = this.#listingReply as StatusReply;
    this.#listingReply = undefined;
    const text = decodeTextLenient(bytes);
    const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
    return { type: "listing", command: current.command, context: current.context, reply, lines };
  }

  /**
   * The final event of the oldest command's answer is being handed out. When it cannot be (bytes
   * after the +OK to STLS), the command stays in flight: its caller never got an answer.
   */
  #complete(event: ClientEvent<Context>): void {
    const done = this.#inFlight[0] as InFlight<Context>;
    const ok = event.type !== "reply" || event.reply.ok;
    const next = stateAfterReply(this.#state, done.key, ok ? "ok" : "err");
    if (next === "TLS_HANDSHAKE" && this.#reader.buffered > 0) {
      throw new RemoteProtocolError(
        "POP3_UNEXPECTED_DATA",
        "server sent bytes after its +OK to STLS (possible injection)",
      );
    }
    this.#inFlight.shift();
    if (done.key === "CAPA") {
      this.#pipeliningAdvertised = event.type === "listing" && advertisesPipelining(event.lines);
    }
    this.#state = next;
  }

  #projectedState(): SessionState {
    let state = this.#state;
    for (const f of this.#inFlight) state = stateAfterReply(state, f.key, "ok");
    return state;
  }

  #expectSasl(method: string): void {
    if (this.#state !== "SASL") throw misuse(`${method} is only valid after a SASL challenge`);
  }

  #fail(error: RemoteProtocolError): never {
    this.#failed = error;
    this.#state = "CLOSED";
    throw error;
  }
}

/**
 * Whether a CAPA answer lists PIPELINING. A CAPA line the parser refuses (a NUL in it) counts as
 * no PIPELINING here: the caller's own parse of the lines reports it.
 */
function advertisesPipelining(lines: readonly string[]): boolean {
  try {
    return parseCapabilities(lines).has("PIPELINING");
  } catch (error) {
    if (error instanceof RemoteProtocolError) return false;
    throw error;
  }
}

function misuse(message: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_STATE", message);
}
