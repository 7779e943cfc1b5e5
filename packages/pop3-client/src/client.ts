import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket, connect as tlsConnect } from "node:tls";
import {
  apopDigest,
  authCommand,
  Capabilities,
  type ClientEvent,
  type DropListing,
  type Greeting,
  type LanguageListing,
  type Pop3Command,
  parseCapabilities,
  parseCommand,
  parseDropListing,
  parseLanguageListing,
  parseScanListing,
  parseUidListing,
  RemoteProtocolError,
  redactCommand,
  type ScanListing,
  type StatusReply,
  type UidListing,
} from "pop3-core";
import {
  chooseMechanism,
  type LoginMechanism,
  type LoginOptions,
  saslMechanism,
  secretOf,
} from "./auth";
import { Channel } from "./channel";
import {
  ClientError,
  MissingFinalNewlineWarning,
  ServerReplyError,
  TruncatedMessageError,
} from "./errors";
import { MessageStream } from "./message-stream";
import type { Operation } from "./operation";
import { type ClientOptions, type ResolvedClientOptions, resolveClientOptions } from "./options";
import { serverIdentity } from "./sni";

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface TlsInfo {
  readonly protocol: string | undefined;
  readonly cipher: string;
  /** The certificate was verified against the trusted CAs and the host name. */
  readonly authorized: boolean;
  readonly authorizationError?: string;
  readonly certificate?: {
    readonly subject: Readonly<Record<string, unknown>>;
    readonly issuer: Readonly<Record<string, unknown>>;
    readonly validTo: Date;
    readonly fingerprint256: string;
  };
}

export interface QuitResult {
  /** The server confirmed the UPDATE: messages marked with `delete` are gone. */
  readonly committed: boolean;
  readonly reply: StatusReply;
}

/** An unknown command's answer (see `command`). */
export interface RawResult {
  readonly reply: StatusReply;
  /** The multi-line body, unstuffed, when the command was sent as multi-line and got +OK. */
  readonly body?: Buffer;
}

/** Opens a connection, reads the greeting and CAPA, and upgrades with STLS unless told not to. */
export async function connect(input: ClientOptions): Promise<Pop3Client> {
  const options = resolveClientOptions(input);
  const port = options.port ?? (options.tls === "implicit" ? 995 : 110);
  const socket = await dial(options, port);
  const channel = new Channel(socket, options, options.tls === "implicit");
  const client = new Pop3Client(channel, options, port);
  const detach = abortWith(options.signal, () => channel.destroy(abortError(options.signal)));
  try {
    await client.start();
    return client;
  } catch (error) {
    channel.destroy(error instanceof Error ? error : undefined);
    throw error;
  } finally {
    detach();
  }
}

/**
 * A POP3 client on one connection. Every method returns a promise, takes an optional
 * `AbortSignal`, and may be called without waiting for the previous one: commands are pipelined
 * when the server advertises PIPELINING and queued otherwise, and answers always come back to the
 * right caller.
 */
export class Pop3Client implements AsyncDisposable {
  readonly #channel: Channel;
  readonly #options: ResolvedClientOptions;
  readonly #port: number;
  #greeting: Greeting | undefined;
  #capabilities = new Capabilities([]);
  #sizes = new Map<number, number>();

  /** @internal Use `connect()`. */
  constructor(channel: Channel, options: ResolvedClientOptions, port: number) {
    this.#channel = channel;
    this.#options = options;
    this.#port = port;
  }

  /** The server's greeting. */
  get greeting(): Greeting {
    return this.#greeting as Greeting;
  }

  /** The capabilities as last read (after connect, after STLS, after login). */
  get capabilityList(): Capabilities {
    return this.#capabilities;
  }

  /** True once the connection is protected by TLS. */
  get secure(): boolean {
    return this.#channel.session.tls;
  }

  /** What the TLS layer negotiated, once the connection is secure (for diagnostics). */
  get tlsInfo(): TlsInfo | undefined {
    const socket = this.#channel.socket;
    if (!(socket instanceof TLSSocket)) return undefined;
    const certificate = socket.getPeerCertificate();
    return {
      protocol: socket.getProtocol() ?? undefined,
      cipher: socket.getCipher().name,
      authorized: socket.authorized,
      ...(socket.authorizationError
        ? { authorizationError: String(socket.authorizationError) }
        : {}),
      ...(certificate && "subject" in certificate
        ? {
            certificate: {
              subject: certificate.subject,
              issuer: certificate.issuer,
              validTo: new Date(certificate.valid_to),
              fingerprint256: certificate.fingerprint256,
            },
          }
        : {}),
    };
  }

  /** The session state: AUTHORIZATION, TRANSACTION, CLOSED, ... */
  get state(): string {
    return this.#channel.session.state;
  }

  /** @internal */
  async start(): Promise<void> {
    const greeting = await this.#channel.greeting();
    this.#greeting = greeting;
    if (!greeting.ok) throw new ServerReplyError("greeting", greeting);
    await this.capabilities();
    if (this.#options.tls === "starttls") await this.#upgrade();
  }

  async #upgrade(): Promise<void> {
    // Try STLS also when CAPA failed: some servers support STLS without CAPA.
    const mayHaveStls = this.#capabilities.has("STLS") || this.#capabilities.list.length === 0;
    let refused: ServerReplyError | undefined;
    if (mayHaveStls) {
      try {
        await this.#simple({ name: "STLS" });
      } catch (error) {
        if (!(error instanceof ServerReplyError)) throw error;
        refused = error;
      }
      if (refused === undefined) {
        await this.#channel.startTls(this.#options.host);
        // RFC 2595 §4: what the server said before TLS may have been forged; ask again.
        this.#capabilities = new Capabilities([]);
        await this.capabilities();
        return;
      }
    }
    if (!this.#options.allowCleartext) {
      throw new ClientError(
        "POP3_TLS",
        `the server does not offer STLS${refused ? ` (${refused.message})` : ""}; use tls: "implicit", or allowCleartext to continue unprotected`,
      );
    }
  }

  /** Reads CAPA again (`-ERR` gives an empty set: the server predates RFC 2449). */
  async capabilities(options: CallOptions = {}): Promise<Capabilities> {
    try {
      const { lines } = await this.#listing({ name: "CAPA" }, options.signal);
      this.#capabilities = parseCapabilities(lines);
    } catch (error) {
      if (!(error instanceof ServerReplyError)) throw error;
      this.#capabilities = new Capabilities([]);
    }
    return this.#capabilities;
  }

  /** Logs in with the best mechanism the server offers, or the one given. */
  async login(credentials: LoginOptions): Promise<void> {
    const mechanism = chooseMechanism(credentials, this.#capabilities, this.greeting, this.secure);
    const signal = credentials.signal;
    if (mechanism === "USER") {
      await this.#simple({ name: "USER", user: credentials.user }, signal);
      await this.#simple({ name: "PASS", password: secretOf(credentials.password) }, signal);
    } else if (mechanism === "APOP") {
      const timestamp = this.greeting.apopTimestamp;
      if (timestamp === undefined)
        throw new ClientError("POP3_CONFIG", "the greeting has no APOP timestamp");
      const digest = apopDigest(timestamp, secretOf(credentials.password));
      await this.#simple({ name: "APOP", user: credentials.user, digest }, signal);
    } else {
      await this.#sasl(mechanism, credentials);
    }
    // Capabilities may change after login (RFC 2449 §5: LOGIN-DELAY and EXPIRE per user).
    await this.capabilities({ ...(signal === undefined ? {} : { signal }) });
  }

  async #sasl(
    name: Exclude<LoginMechanism, "USER" | "APOP">,
    credentials: LoginOptions,
  ): Promise<void> {
    const mechanism = await saslMechanism(name, credentials, this.#options.host, this.#port);
    // RFC 5034 §4: the initial response goes on the AUTH line only if the line fits in 255
    // octets; otherwise the server's empty challenge is answered with it.
    const command = authCommand(name, mechanism.initialResponse());
    const channel = this.#channel;
    await this.#run<void>(command, credentials.signal, (event, resolve, reject) => {
      if (event.type === "sasl-challenge") {
        let answer: Uint8Array;
        try {
          answer = mechanism.respond(event.challenge);
        } catch (error) {
          if (!(error instanceof RemoteProtocolError)) throw error;
          channel.writeSasl(channel.session.cancelSasl(), "*");
          return;
        }
        channel.writeSasl(channel.session.sendSaslResponse(answer), "[response]");
        return;
      }
      if (event.type === "reply") {
        if (event.reply.ok) resolve();
        else reject(new ServerReplyError(`AUTH ${name}`, event.reply));
      }
    });
  }

  /** STAT: the number of messages and their total size. */
  async stat(options: CallOptions = {}): Promise<DropListing> {
    return parseDropListing((await this.#simple({ name: "STAT" }, options.signal)).text);
  }

  /** LIST: every message's number and size; sizes are remembered for truncation checks. */
  async list(options?: CallOptions): Promise<ScanListing[]>;
  async list(msg: number, options?: CallOptions): Promise<ScanListing>;
  async list(
    msgOrOptions?: number | CallOptions,
    maybeOptions: CallOptions = {},
  ): Promise<ScanListing[] | ScanListing> {
    if (typeof msgOrOptions === "number") {
      const entry = parseScanListing(
        (await this.#simple({ name: "LIST", msg: msgOrOptions }, maybeOptions.signal)).text,
      );
      this.#sizes.set(entry.msg, entry.size);
      return entry;
    }
    const { lines } = await this.#listing({ name: "LIST" }, msgOrOptions?.signal);
    const entries = lines.map(parseScanListing);
    for (const entry of entries) this.#sizes.set(entry.msg, entry.size);
    return entries;
  }

  /** UIDL: every message's number and unique id. */
  async uidl(options?: CallOptions): Promise<UidListing[]>;
  async uidl(msg: number, options?: CallOptions): Promise<UidListing>;
  async uidl(
    msgOrOptions?: number | CallOptions,
    maybeOptions: CallOptions = {},
  ): Promise<UidListing[] | UidListing> {
    if (typeof msgOrOptions === "number") {
      return parseUidListing(
        (await this.#simple({ name: "UIDL", msg: msgOrOptions }, maybeOptions.signal)).text,
      );
    }
    const { lines } = await this.#listing({ name: "UIDL" }, msgOrOptions?.signal);
    return lines.map((line) => parseUidListing(line));
  }

  /**
   * RETR as a stream of the message's bytes. The size is checked against LIST at the end (LIST n
   * is asked first, pipelined, when the size is not known yet); a mismatch destroys the stream
   * with `TruncatedMessageError`, or warns, as `onSizeMismatch` says. One is no mismatch: a
   * message without a final newline, which arrives with the CRLF the server had to add
   * (`MissingFinalNewlineWarning` to `onWarning`).
   */
  async retrieve(msg: number, options: CallOptions = {}): Promise<MessageStream> {
    const known = this.#sizes.get(msg);
    const size =
      known === undefined ? this.list(msg, options).then((e) => e.size) : Promise.resolve(known);
    const stream = this.#body({ name: "RETR", msg }, msg, size, options.signal);
    // Both were submitted; if LIST fails, RETR fails the same way: report RETR's error.
    size.catch(() => {});
    return stream;
  }

  /** The whole message in memory: for small messages only. */
  async retrieveBytes(msg: number, options: CallOptions = {}): Promise<Buffer> {
    return (await this.retrieve(msg, options)).bytes();
  }

  /** TOP: the header and the first `lines` lines of the body, as a stream. */
  async top(msg: number, lines: number, options: CallOptions = {}): Promise<MessageStream> {
    return this.#body({ name: "TOP", msg, lines }, msg, Promise.resolve(undefined), options.signal);
  }

  /** DELE: marks a message; it is removed only when `quit()` reports `committed`. */
  async delete(msg: number, options: CallOptions = {}): Promise<void> {
    await this.#simple({ name: "DELE", msg }, options.signal);
  }

  /** RSET: unmarks every deleted message. */
  async reset(options: CallOptions = {}): Promise<void> {
    await this.#simple({ name: "RSET" }, options.signal);
  }

  async noop(options: CallOptions = {}): Promise<void> {
    await this.#simple({ name: "NOOP" }, options.signal);
  }

  /** UTF8 (RFC 6856): allow UTF-8 in user names and passwords; before login. */
  async utf8(options: CallOptions = {}): Promise<void> {
    await this.#simple({ name: "UTF8" }, options.signal);
  }

  /** LANG (RFC 6856): with a tag, select a language; without, list them. */
  async lang(tag?: string, options: CallOptions = {}): Promise<LanguageListing[]> {
    if (tag !== undefined) {
      const reply = await this.#simple({ name: "LANG", tag }, options.signal);
      // RFC 6856 §3's example answers `+OK es Idioma cambiado`: read it as a listing when it is
      // one; any other text is the description of the tag asked for.
      try {
        return [parseLanguageListing(reply.text)];
      } catch (error) {
        if (!(error instanceof RemoteProtocolError)) throw error;
        return [{ tag, description: reply.text }];
      }
    }
    const { lines } = await this.#listing({ name: "LANG" }, options.signal);
    return lines.map(parseLanguageListing);
  }

  /**
   * QUIT. In TRANSACTION this is the UPDATE: `committed` tells whether the server removed the
   * messages marked with `delete` (false, with the server's reply, when it could not).
   */
  async quit(options: CallOptions = {}): Promise<QuitResult> {
    const inTransaction = this.state === "TRANSACTION";
    const reply = await this.#run<StatusReply>(
      { name: "QUIT" },
      options.signal,
      (event, resolve) => {
        if (event.type === "reply") resolve(event.reply);
      },
    );
    this.#channel.end();
    return { committed: inTransaction && reply.ok, reply };
  }

  /**
   * Any command, for extensions: `line` is parsed by core (CR, LF and NUL are refused), and
   * `multiline` says whether a +OK is followed by a body. -ERR rejects with `ServerReplyError`.
   */
  async command(
    line: string,
    options: CallOptions & { multiline?: boolean } = {},
  ): Promise<RawResult> {
    const command = parseCommand(line, {
      maxLineLength: 65536,
      maxArgumentLength: 65536,
      maxSaslLineLength: 65536,
    });
    const multiline = options.multiline ?? false;
    const parts: Buffer[] = [];
    return this.#run<RawResult>(
      command,
      options.signal,
      (event, resolve, reject) => {
        if (event.type === "reply") {
          if (event.reply.ok || multiline) {
            if (event.reply.ok) resolve({ reply: event.reply });
            else reject(new ServerReplyError(redactCommand(command), event.reply));
          } else reject(new ServerReplyError(redactCommand(command), event.reply));
        } else if (event.type === "listing") {
          resolve({
            reply: event.reply,
            body: Buffer.from(event.lines.map((l) => `${l}\r\n`).join("")),
          });
        } else if (event.type === "body-data") {
          parts.push(Buffer.from(event.data));
        } else if (event.type === "body-end") {
          resolve({ reply: { ok: true, text: "" }, body: Buffer.concat(parts) });
        }
      },
      command.name === "UNKNOWN" ? multiline : undefined,
    );
  }

  /** Closes the connection at once, without QUIT: the server deletes nothing. */
  close(): void {
    this.#channel.destroy();
  }

  /**
   * Disposing never commits deletions: in TRANSACTION it sends RSET and QUIT (so the marks are
   * dropped and the server ends the session cleanly); otherwise QUIT; then the socket is closed.
   * Call `quit()` yourself to remove the messages you deleted.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#channel.closed) return;
    const signal = AbortSignal.timeout(5000);
    try {
      if (this.state === "TRANSACTION") await this.reset({ signal });
      await this.#run<void>({ name: "QUIT" }, signal, (event, resolve) => {
        if (event.type === "reply") resolve();
      });
    } catch {
      // Best effort: the socket is closed below either way, and nothing was committed.
    } finally {
      this.#channel.destroy();
    }
  }

  // ---- plumbing ----

  /** Runs one command; `handle` sees its events until it resolves or rejects the promise. */
  #run<T>(
    command: Pop3Command,
    signal: AbortSignal | undefined,
    handle: (
      event: ClientEvent,
      resolve: (value: T) => void,
      reject: (error: Error) => void,
    ) => void,
    multiline?: boolean,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      let settled = false;
      const detach = abortWith(signal, () => {
        operation.abandoned = true;
        finish(() => reject(abortError(signal)));
      });
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        detach();
        settle();
      };
      const operation: Operation = {
        command,
        label: redactCommand(command),
        abandoned: false,
        ...(multiline === undefined ? {} : { multiline }),
        onEvent: (event) =>
          handle(
            event,
            (value) => finish(() => resolve(value)),
            (error) => finish(() => reject(error)),
          ),
        onError: (error) => finish(() => reject(error)),
      };
      this.#channel.submit(operation);
    });
  }

  #simple(command: Pop3Command, signal?: AbortSignal): Promise<StatusReply> {
    return this.#run(command, signal, (event, resolve, reject) => {
      if (event.type !== "reply") return;
      if (event.reply.ok) resolve(event.reply);
      else reject(new ServerReplyError(redactCommand(command), event.reply));
    });
  }

  #listing(
    command: Pop3Command,
    signal?: AbortSignal,
  ): Promise<{ reply: StatusReply; lines: readonly string[] }> {
    return this.#run(command, signal, (event, resolve, reject) => {
      if (event.type === "listing") resolve({ reply: event.reply, lines: event.lines });
      else if (event.type === "reply")
        reject(new ServerReplyError(redactCommand(command), event.reply));
    });
  }

  /** RETR or TOP: resolves with the stream at +OK; the bytes follow with backpressure. */
  #body(
    command: Pop3Command,
    msg: number,
    expectedSize: Promise<number | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<MessageStream> {
    const channel = this.#channel;
    let stream: MessageStream | undefined;
    let tail: Uint8Array = new Uint8Array(0);
    return new Promise<MessageStream>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const operation: Operation = {
        command,
        label: redactCommand(command),
        abandoned: false,
        onEvent: (event) => {
          if (event.type === "reply") {
            reject(new ServerReplyError(redactCommand(command), event.reply));
          } else if (event.type === "body-start") {
            stream = new MessageStream(msg, () => channel.resumeReading());
            // A consumer that gives up early: keep reading the body to its end, and drop it.
            stream.once("close", () => channel.resumeReading());
            resolve(stream);
          } else if (event.type === "body-data" && stream !== undefined && !stream.destroyed) {
            tail = lastOctets(tail, event.data);
            if (!stream.deliver(event.data)) channel.pauseReading();
          } else if (event.type === "body-end" && stream !== undefined) {
            detach();
            // LIST n was answered before this body; its promise settles in a microtask.
            const done = stream;
            expectedSize.then(
              (size) => this.#finishBody(done, msg, size, event.size, tail),
              () => this.#finishBody(done, msg, undefined, event.size, tail),
            );
          }
        },
        onError: (error) => {
          detach();
          if (stream === undefined) reject(error);
          else stream.destroy(error);
        },
      };
      const detach = abortWith(signal, () => {
        operation.abandoned = true;
        channel.resumeReading();
        if (stream === undefined) reject(abortError(signal));
        else stream.destroy(abortError(signal));
      });
      channel.submit(operation);
    });
  }

  #finishBody(
    stream: MessageStream,
    msg: number,
    expected: number | undefined,
    received: number,
    tail: Uint8Array,
  ): void {
    if (stream.destroyed) return;
    stream.expectedSize = expected;
    if (expected !== undefined && addedFinalNewline(expected, received, tail)) {
      this.#options.onWarning?.(new MissingFinalNewlineWarning(msg, expected, received));
    } else if (expected !== undefined && expected !== received) {
      const mismatch = new TruncatedMessageError(msg, expected, received);
      if (this.#options.onSizeMismatch === "error") {
        stream.destroy(mismatch);
        return;
      }
      this.#options.onWarning?.(mismatch);
    }
    stream.finish();
  }
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * A message stored without a final newline: LIST counts it as stored, but RETR must end its last
 * line with CRLF before the terminator (RFC 1939 §3), so exactly that CRLF arrives on top (Dovecot
 * does this). Only that: 2 octets more, the body ends in CRLF, and the octet before is no LF (a
 * message that already ended in a newline got no CRLF added, so 2 more octets there are a real
 * mismatch). The CRLF is kept: it was streamed before the end was known, and it is what the
 * server sent.
 */
function addedFinalNewline(expected: number, received: number, tail: Uint8Array): boolean {
  if (received !== expected + 2) return false;
  const n = tail.length;
  return tail[n - 2] === CR && tail[n - 1] === LF && tail[n - 3] !== LF;
}

/** The last 3 octets of `previous` followed by `piece`: enough to judge how a body ends. */
function lastOctets(previous: Uint8Array, piece: Uint8Array): Uint8Array {
  if (piece.length >= 3) return piece.slice(-3);
  const joined = new Uint8Array(previous.length + piece.length);
  joined.set(previous);
  joined.set(piece, previous.length);
  return joined.slice(-3);
}

async function dial(options: ResolvedClientOptions, port: number): Promise<Duplex> {
  const { host, timeouts, tlsOptions } = options;
  const signal = AbortSignal.any(
    [AbortSignal.timeout(timeouts.connect), options.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    ),
  );
  let socket: Duplex;
  try {
    socket =
      options.socket ??
      (options.dialer
        ? await options.dialer({ host, port, signal })
        : await openSocket(host, port, signal));
  } catch (error) {
    if (signal.aborted && !options.signal?.aborted) {
      const message = `could not connect to ${host}:${port} within ${timeouts.connect} ms`;
      throw new ClientError("POP3_TIMEOUT", message, { cause: error });
    }
    const message = `could not connect to ${host}:${port}: ${(error as Error).message}`;
    throw new ClientError("POP3_CONNECTION", message, { cause: error });
  }
  if (options.tls !== "implicit") return socket;
  const secure = tlsConnect({
    socket,
    ...serverIdentity(host, tlsOptions.servername).tlsOptions,
    rejectUnauthorized: tlsOptions.rejectUnauthorized,
    minVersion: tlsOptions.minVersion,
    ...(tlsOptions.ca === undefined ? {} : { ca: tlsOptions.ca }),
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: Error): void => {
      secure.destroy();
      reject(new ClientError("POP3_TLS", `TLS failed: ${error.message}`, { cause: error }));
    };
    const onAbort = (): void => fail(new Error("timed out or aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    secure.once("secureConnect", () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
    secure.once("error", fail);
  });
  return secure;
}

function openSocket(host: string, port: number, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, noDelay: true });
    const onAbort = (): void => {
      socket.destroy();
      reject(new Error(signal.reason instanceof Error ? signal.reason.message : "aborted"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      resolve(socket);
    });
    socket.once("error", (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    });
  });
}

function abortError(signal: AbortSignal | undefined): ClientError {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new ClientError("POP3_TIMEOUT", "the operation timed out", { cause: reason });
  }
  return new ClientError("POP3_ABORTED", "the operation was aborted", { cause: reason });
}

function abortWith(signal: AbortSignal | undefined, onAbort: () => void): () => void {
  if (signal === undefined) return () => {};
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
