import { connect as netConnect, type Socket } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { serverIdentity } from "pop3-client";
import {
  encodeCommand,
  type Greeting,
  hasMultilineReply,
  isContinuationLine,
  LINE_TOO_LONG,
  LineReader,
  MultilineDecoder,
  type Pop3Command,
  parseContinuation,
  parseGreeting,
  parseStatusLine,
  type StatusReply,
} from "pop3-core";
import { quote, redactLine } from "./text";
import type { ConformanceTlsOptions } from "./types";

/** Longest line the probe reads; far above RFC 2449's 512 so over-long lines can be reported. */
const MAX_LINE = 64 * 1024;

const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

/** Where a probe connects to, and how. */
export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (RFC 8314). */
  readonly implicitTls: boolean;
  readonly tlsOptions: ConformanceTlsOptions;
  /** Longest wait for any answer, in milliseconds. */
  readonly timeoutMs: number;
  /** Called for every status line the server sends (greeting included). */
  readonly observe?: (line: ObservedLine) => void;
}

/** A status line as it arrived, for the checks that look at every response. */
export interface ObservedLine {
  /** The line without its line end. */
  readonly text: string;
  /** Octets on the wire, counted with CRLF. */
  readonly octets: number;
  /** What it answered, e.g. `greeting` or `STAT`. */
  readonly answering: string;
  /** As `parseStatusLine` read it. */
  readonly reply: StatusReply;
}

/** A parsed status line with the text it came from. */
export interface StatusLine {
  readonly reply: StatusReply;
  /** The line without its line end (decoded as UTF-8). */
  readonly text: string;
  /** Octets on the wire, counted with CRLF. */
  readonly octets: number;
}

export interface Response {
  readonly status: StatusLine;
  /** The unstuffed body of a multi-line answer (only when it was `+OK` and multi-line). */
  readonly body?: Uint8Array;
}

/** The connection ended (or was ended) while an answer was due. */
export class ConnectionClosedError extends Error {
  constructor(waitingFor: string) {
    super(`connection closed by the server while waiting for ${waitingFor}`);
    this.name = "ConnectionClosedError";
  }
}

/** No answer within the probe's timeout. */
export class ProbeTimeoutError extends Error {
  constructor(waitingFor: string, ms: number) {
    super(`no answer within ${ms} ms while waiting for ${waitingFor}`);
    this.name = "ProbeTimeoutError";
  }
}

/** The TLS handshake after STLS (or on connect) failed. */
export class TlsHandshakeError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = "TlsHandshakeError";
    this.code = code;
  }
}

/**
 * One raw connection to the server under test. It writes whatever it is told to, including
 * commands no well-behaved client would send, and reads answers with pop3-core's framing:
 * `LineReader` for status lines, `MultilineDecoder` for multi-line bodies, `parseStatusLine` /
 * `parseGreeting` / `parseContinuation` for their meaning. It never interprets POP3 by hand.
 */
export class Probe {
  readonly target: ProbeTarget;
  greeting!: StatusLine & { readonly greeting: Greeting };
  #socket: Socket;
  #reader = new LineReader(MAX_LINE);
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #secure: boolean;
  /** What the next status line answers, for `observe`. */
  #answering: string[] = [];

  private constructor(target: ProbeTarget, socket: Socket, secure: boolean) {
    this.target = target;
    this.#socket = socket;
    this.#secure = secure;
    this.#attach(socket);
  }

  /** Connects and reads the greeting. */
  static async open(target: ProbeTarget, options: { localAddress?: string } = {}): Promise<Probe> {
    const socket = await dial(target, options.localAddress);
    const probe = new Probe(target, socket, target.implicitTls);
    try {
      const status = await probe.#readStatus("the greeting", "greeting", parseGreeting);
      probe.greeting = { ...status, greeting: status.reply as Greeting };
    } catch (error) {
      probe.destroy();
      throw error;
    }
    return probe;
  }

  /** TLS is active (implicit, or after a completed STLS). */
  get secure(): boolean {
    return this.#secure;
  }

  /** The server closed the connection (or it failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Bytes received and not read yet. */
  get buffered(): number {
    return this.#reader.buffered;
  }

  /** Writes bytes or a string (UTF-8) exactly as given. `label` names what the answers answer. */
  write(data: string | Uint8Array, ...labels: string[]): void {
    this.#answering.push(...labels);
    this.#socket.write(typeof data === "string" ? encoder.encode(data) : data);
  }

  /** Writes one command, encoded by pop3-core. */
  send(command: Pop3Command): void {
    this.write(encodeCommand(command), command.name);
  }

  /** Sends a command and reads its answer, the body too when it is a multi-line `+OK`. */
  async request(command: Pop3Command): Promise<Response> {
    this.send(command);
    return this.response(command.name, hasMultilineReply(command) === true);
  }

  /** Sends a raw command line (CRLF added) and reads its answer. */
  async raw(line: string, multiline = false): Promise<Response> {
    this.write(`${line}\r\n`, line.split(" ")[0] ?? line);
    return this.response(redactLine(line), multiline);
  }

  /** Reads one answer: a status line, and the body when `multiline` and the line is `+OK`. */
  async response(what: string, multiline: boolean): Promise<Response> {
    const status = await this.status(what);
    if (!multiline || !status.reply.ok) return { status };
    return { status, body: await this.body(what) };
  }

  /** Reads one status line (`+OK` / `-ERR`). */
  async status(what = "a status line"): Promise<StatusLine> {
    const answering = this.#answering.shift() ?? what;
    return this.#readStatus(what, answering, parseStatusLine);
  }

  /**
   * Reads a line that may be a SASL continuation (`+ base64`) or a status line: RFC 5034 §4
   * answers to AUTH and to each client response.
   */
  async authLine(
    what = "an AUTH answer",
  ): Promise<{ continuation: string } | { status: StatusLine }> {
    const bytes = await this.#readLine(what);
    const text = utf8.decode(bytes);
    if (isContinuationLine(text)) return { continuation: parseContinuation(text) };
    const answering = this.#answering.shift() ?? what;
    return { status: this.#statusOf(text, bytes.length + 2, answering, parseStatusLine) };
  }

  /** Reads the body of a multi-line answer, unstuffed by `MultilineDecoder`. */
  async body(what = "a multi-line answer"): Promise<Uint8Array> {
    const decoder = new MultilineDecoder();
    const parts: Uint8Array[] = [];
    let deadline = Date.now() + this.target.timeoutMs;
    for (;;) {
      const chunk = this.#reader.takeRest();
      if (chunk.length > 0) {
        const result = decoder.push(chunk);
        for (const piece of result.data) parts.push(piece.slice());
        if (result.done) {
          this.#reader.push(result.rest);
          return concat(parts);
        }
        deadline = Date.now() + this.target.timeoutMs;
      }
      await this.#waitForData(`the end of ${what}`, deadline);
    }
  }

  /** Splits a multi-line body into its lines with pop3-core's `LineReader`. */
  static lines(body: Uint8Array): string[] {
    const reader = new LineReader(MAX_LINE);
    reader.push(body);
    const lines: string[] = [];
    for (let line = reader.readLine(); line !== undefined; line = reader.readLine()) {
      if (line === LINE_TOO_LONG) throw new Error("a listing line is longer than 64 KiB");
      lines.push(utf8.decode(line));
    }
    if (reader.buffered > 0) lines.push(utf8.decode(reader.takeRest()));
    return lines;
  }

  /**
   * Starts TLS on this connection after the server's `+OK` to STLS. Throws when the server sent
   * anything after that `+OK` (RFC 2595 §4: TLS starts right after its CRLF) or the handshake fails.
   */
  async startTls(): Promise<void> {
    if (this.#reader.buffered > 0) {
      const early = utf8.decode(this.#reader.takeRest());
      throw new PlaintextAfterStlsError(early);
    }
    const raw = this.#socket;
    this.#detach(raw);
    const secure = tlsConnect({ socket: raw, ...tlsClientOptions(this.target) });
    await handshake(secure, this.target.timeoutMs);
    this.#socket = secure;
    this.#secure = true;
    this.#attach(secure);
  }

  /** Waits until the server closes the connection; false if it is still open after `ms`. */
  async waitClosed(ms = this.target.timeoutMs): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#ended) {
      // Anything the server still sends is read and dropped.
      this.#reader.takeRest();
      try {
        await this.#waitForData("the connection to close", deadline);
      } catch (error) {
        if (error instanceof ProbeTimeoutError) return false;
        throw error;
      }
    }
    return true;
  }

  /** Sends QUIT and reads its answer (if any), then closes. Never throws. */
  async quit(): Promise<StatusLine | undefined> {
    if (this.#ended) {
      this.destroy();
      return undefined;
    }
    try {
      const answer = await this.raw("QUIT");
      await this.waitClosed(Math.min(this.target.timeoutMs, 2000));
      return answer.status;
    } catch {
      return undefined;
    } finally {
      this.destroy();
    }
  }

  /** Drops the connection at once, without QUIT (`await using` does the same). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  /** Drops the connection at once, without QUIT. */
  destroy(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#wakeUp();
  }

  // ---- internals ----

  async #readStatus<T extends StatusReply>(
    what: string,
    answering: string,
    parse: (line: string) => T,
  ): Promise<StatusLine> {
    const bytes = await this.#readLine(what);
    return this.#statusOf(utf8.decode(bytes), bytes.length + 2, answering, parse);
  }

  #statusOf<T extends StatusReply>(
    text: string,
    octets: number,
    answering: string,
    parse: (line: string) => T,
  ): StatusLine {
    let reply: StatusReply;
    try {
      reply = parse(text);
    } catch {
      throw new Error(`expected a status line for ${answering}, got ${quote(text)}`);
    }
    this.target.observe?.({ text, octets, answering, reply });
    return { reply, text, octets };
  }

  async #readLine(what: string): Promise<Uint8Array> {
    const deadline = Date.now() + this.target.timeoutMs;
    for (;;) {
      const line = this.#reader.readLine();
      if (line === LINE_TOO_LONG)
        throw new Error(`a line longer than ${MAX_LINE} octets (${what})`);
      if (line !== undefined) return line;
      await this.#waitForData(what, deadline);
    }
  }

  /** Resolves on the next data, end or error; rejects on timeout or when the connection is gone. */
  async #waitForData(what: string, deadline: number): Promise<void> {
    if (this.#ended) {
      if (this.#error !== undefined && !(this.#error instanceof ConnectionClosedError)) {
        throw new Error(`connection failed while waiting for ${what}: ${this.#error.message}`);
      }
      throw new ConnectionClosedError(what);
    }
    const ms = deadline - Date.now();
    if (ms <= 0) throw new ProbeTimeoutError(what, this.target.timeoutMs);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        reject(new ProbeTimeoutError(what, this.target.timeoutMs));
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  #onData = (chunk: Buffer): void => {
    this.#reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    this.#wakeUp();
  };

  #onEnd = (): void => {
    this.#ended = true;
    this.#wakeUp();
  };

  #onError = (error: Error): void => {
    this.#error = error;
    this.#ended = true;
    this.#wakeUp();
  };

  #attach(socket: Socket): void {
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("close", this.#onEnd);
    socket.on("error", this.#onError);
  }

  #detach(socket: Socket): void {
    socket.off("data", this.#onData);
    socket.off("end", this.#onEnd);
    socket.off("close", this.#onEnd);
    socket.off("error", this.#onError);
  }
}

/** The server wrote something after its `+OK` to STLS, before the TLS handshake. */
export class PlaintextAfterStlsError extends Error {
  readonly text: string;
  constructor(text: string) {
    super(`the server sent plaintext after its +OK to STLS: ${quote(text)}`);
    this.name = "PlaintextAfterStlsError";
    this.text = text;
  }
}

/** Client TLS settings: TLS 1.2 or newer, the certificate verified unless told otherwise. */
function tlsClientOptions(target: ProbeTarget): ConnectionOptions {
  const { ca, servername, rejectUnauthorized } = target.tlsOptions;
  const toCa = (value: string | Uint8Array): string | Buffer =>
    typeof value === "string" ? value : Buffer.from(value);
  return {
    rejectUnauthorized: rejectUnauthorized ?? true,
    minVersion: "TLSv1.2",
    // pop3-client's rule, so the suite and the client agree on which certificate is right: checked
    // against the servername if given, else the host (an IP address too); SNI only for a name.
    ...serverIdentity(target.host, servername).tlsOptions,
    ...(ca === undefined
      ? {}
      : { ca: typeof ca === "string" || ca instanceof Uint8Array ? toCa(ca) : ca.map(toCa) }),
  };
}

async function dial(target: ProbeTarget, localAddress: string | undefined): Promise<Socket> {
  const local = localAddress === undefined ? {} : { localAddress };
  if (target.implicitTls) {
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      ...local,
      ...tlsClientOptions(target),
    });
    await handshake(socket, target.timeoutMs);
    return socket;
  }
  const socket = netConnect({ host: target.host, port: target.port, ...local });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`could not connect to ${target.host}:${target.port} in ${target.timeoutMs} ms`),
      );
    }, target.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve();
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(new Error(`could not connect to ${target.host}:${target.port}: ${error.message}`));
    };
    socket.once("error", onError);
  });
  return socket;
}

async function handshake(socket: TLSSocket, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      socket.off("secureConnect", onSecure);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (error === undefined) resolve();
      else {
        socket.destroy();
        reject(error);
      }
    };
    const onSecure = (): void => done();
    const onError = (error: Error & { code?: string }): void =>
      done(new TlsHandshakeError(`TLS handshake failed: ${error.message}`, error.code));
    const onClose = (): void =>
      done(
        new TlsHandshakeError(
          "the server closed the connection during the TLS handshake",
          "CLOSED",
        ),
      );
    const timer = setTimeout(
      () =>
        done(new TlsHandshakeError(`TLS handshake took longer than ${timeoutMs} ms`, "TIMEOUT")),
      timeoutMs,
    );
    socket.once("secureConnect", onSecure);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
