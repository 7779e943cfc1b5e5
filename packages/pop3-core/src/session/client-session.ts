import { concatBytes, decodeTextLenient, encodeText } from "../bytes";
import { LocalProtocolError, RemoteProtocolError } from "../errors";
import { LINE_TOO_LONG, LineReader } from "../framing/line-reader";
import { MultilineDecoder } from "../framing/multiline-decoder";
import { isContinuationLine, parseContinuation } from "../parse/sasl";
import { parseGreeting, parseStatusLine } from "../parse/status";
import { decodeBase64Strict, encodeBase64 } from "../sasl/base64";
import { encodeCommand } from "../serialize/command";
import type { Pop3Command } from "../types/command";
import type { Greeting, StatusReply } from "../types/reply";
import type { SessionState } from "../types/state";
import { NEED_DATA } from "./signals";
import {
  type CommandKey,
  commandKey,
  hasMultilineReply,
  isAccepted,
  nextState,
  stateAfterReply,
} from "./table";

/** What a client session reads from the server. */
export type ClientEvent =
  | { readonly type: "greeting"; readonly greeting: Greeting }
  /** A complete single-line answer, or the `-ERR` to a command whose `+OK` would be multi-line. */
  | { readonly type: "reply"; readonly command: Pop3Command; readonly reply: StatusReply }
  /** The `+OK` of a message body (RETR, TOP, or an unknown command sent as multi-line). */
  | { readonly type: "body-start"; readonly command: Pop3Command; readonly reply: StatusReply }
  /** Unstuffed message bytes; views into received chunks, so copy them to keep them. */
  | { readonly type: "body-data"; readonly command: Pop3Command; readonly data: Uint8Array }
  | { readonly type: "body-end"; readonly command: Pop3Command; readonly size: number }
  /** A whole text listing (LIST, UIDL, CAPA, bare AUTH, bare LANG), split into lines. */
  | {
      readonly type: "listing";
      readonly command: Pop3Command;
      readonly reply: StatusReply;
      readonly lines: readonly string[];
    }
  /** A SASL challenge, base64-decoded; answer with `sendSaslResponse` or `cancelSasl`. */
  | {
      readonly type: "sasl-challenge";
      readonly command: Pop3Command;
      readonly challenge: Uint8Array;
    };

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
}

export interface SendOptions {
  /** For an unknown command: whether its `+OK` is followed by a multi-line body. */
  readonly multiline?: boolean;
}

interface InFlight {
  readonly command: Pop3Command;
  readonly key: CommandKey;
  /** How a `+OK` continues: a streamed body, a buffered listing, or nothing. */
  readonly shape: "single" | "body" | "listing";
}

/** Answers whose `+OK` is a listing of short text lines, buffered whole; others stream. */
function replyShape(command: Pop3Command, multiline: boolean | undefined): InFlight["shape"] {
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
 * STLS or during an AUTH exchange until they are answered (RFC 2449 §6.6), and treats any byte the
 * server sends after its `+OK` to STLS as an attack (RFC 2595 §4).
 */
export class ClientSession {
  readonly #reader: LineReader;
  readonly #options: ClientSessionOptions;
  #state: SessionState = "GREETING";
  #inFlight: InFlight[] = [];
  #decoder: MultilineDecoder | undefined;
  #listing: Uint8Array[] = [];
  #listingReply: StatusReply | undefined;
  #tls: boolean;
  #failed: RemoteProtocolError | undefined;
  /** Events decoded from one chunk and not handed out yet. */
  #queued: ClientEvent[] = [];

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

  /**
   * The bytes for `command`. Checks it against the state the session will be in once every command
   * in flight has succeeded, so a pipelined `USER`, `PASS`, `STAT` is allowed.
   */
  send(command: Pop3Command, options: SendOptions = {}): Uint8Array {
    const key = commandKey(command);
    const last = this.#inFlight.at(-1);
    if (last !== undefined && (last.key === "STLS" || last.key === "AUTH")) {
      throw misuse(`wait for the answer to ${last.key} before sending more (RFC 2449 §6.6)`);
    }
    const state = this.#projectedState();
    if (!isAccepted(state, key)) {
      throw misuse(`${command.name} is not valid in the ${state} state`);
    }
    if (key === "STLS" && this.#tls) throw misuse("TLS is already active");
    const bytes = encodeCommand(command);
    this.#inFlight.push({ command, key, shape: replyShape(command, options.multiline) });
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

  /** The next event, or `NEED_DATA`. Throws `RemoteProtocolError` when the server broke the protocol. */
  nextEvent(): ClientEvent | typeof NEED_DATA {
    if (this.#failed !== undefined) throw this.#failed;
    try {
      return this.#next();
    } catch (error) {
      if (error instanceof RemoteProtocolError) this.#fail(error);
      throw error;
    }
  }

  #next(): ClientEvent | typeof NEED_DATA {
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
    if (current.key === "AUTH" && isContinuationLine(text)) {
      this.#state = nextState(this.#state, "AUTH", "continue");
      const challenge = decodeBase64Strict(parseContinuation(text));
      return { type: "sasl-challenge", command: current.command, challenge };
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
      if (current.shape === "body") return { type: "body-start", command: current.command, reply };
      this.#listingReply = reply;
      return this.#readMultiline(this.#decoder);
    }
    this.#complete(reply.ok ? "ok" : "err");
    return { type: "reply", command: current.command, reply };
  }

  #readMultiline(decoder: MultilineDecoder): ClientEvent | typeof NEED_DATA {
    const current = this.#inFlight[0] as InFlight;
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
        this.#queued.push({ type: "body-data", command: current.command, data: piece });
      if (done) {
        this.#decoder = undefined;
        this.#complete("ok");
        this.#queued.push({ type: "body-end", command: current.command, size: decoder.size });
      }
      const event = this.#queued.shift();
      if (event !== undefined) return event;
    }
  }

  #endListing(current: InFlight): ClientEvent {
    const bytes = concatBytes(this.#listing);
    this.#listing = [];
    this.#decoder = undefined;
    const reply = this.#listingReply as StatusReply;
    this.#listingReply = undefined;
    this.#complete("ok");
    const text = decodeTextLenient(bytes);
    const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
    return { type: "listing", command: current.command, reply, lines };
  }

  #complete(outcome: "ok" | "err"): void {
    const done = this.#inFlight.shift() as InFlight;
    this.#state = stateAfterReply(this.#state, done.key, outcome);
    if (this.#state === "TLS_HANDSHAKE" && this.#reader.buffered > 0) {
      throw new RemoteProtocolError(
        "POP3_UNEXPECTED_DATA",
        "server sent bytes after its +OK to STLS (possible injection)",
      );
    }
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

function misuse(message: string): LocalProtocolError {
  return new LocalProtocolError("POP3_BAD_STATE", message);
}
