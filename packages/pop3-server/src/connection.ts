import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { NEED_DATA, PAUSED, type ServerEvent, ServerSession, type StatusReply } from "pop3-core";
import { AuthorizationPhase, type LoggedIn } from "./authorization-phase";
import { ClientStream } from "./client-stream";
import type { ServerContext } from "./context";
import { observe } from "./observer";
import type { BodyFilter, PhaseHost } from "./phase-host";
import { serverHandshake } from "./tls-handshake";
import { TransactionPhase } from "./transaction-phase";

let nextConnectionId = 1;

/**
 * A multi-line answer is written to the socket once this much of it is queued; a smaller one
 * (a 10 KB message, a listing) leaves with its status line and terminator in a single write
 * when the command is done, instead of one write for the body and another for the terminator.
 */
const WRITE_BATCH_BYTES = 64 * 1024;

/** A listing longer than this many lines is written in slices, waiting for the client to read. */
const LISTING_SLICE_LINES = 2048;

export interface ConnectionHooks {
  /** The client's real address when it is not the socket's peer (PROXY, `serve`). */
  readonly remoteAddress?: string;
  /** The session logged in (it leaves the server's pre-login pool). */
  readonly onLogin?: () => void;
  /** The connection is closed and its maildrop released. */
  readonly onClosed: () => void;
}

/**
 * One client connection: owns the stream (through `ClientStream`: outbox, writes, closing), the
 * core `ServerSession`, the login and close timers, and the phase that answers commands — an
 * `AuthorizationPhase` until a login opens the maildrop, then a `TransactionPhase`, swapped once.
 * It reads events one at a time and hands each to the phase through a `PhaseHost`; it never looks
 * at POP3 bytes itself (core frames and parses everything) nor at what a command means.
 */
export class Connection {
  readonly id = nextConnectionId++;
  readonly #context: ServerContext;
  readonly #remoteAddress: string;
  readonly #session: ServerSession;
  readonly #hooks: ConnectionHooks;
  readonly #stream: ClientStream;
  readonly #host: PhaseHost;
  #phase: AuthorizationPhase | TransactionPhase;

  #pumping = false;
  /** Input came while the loop ran: look again once it is done. */
  #pumpAgain = false;
  #closed = false;
  #badCommands = 0;
  /** A command is being handled: a farewell line must not cut into its answer. */
  #busy = false;
  #releasing: Promise<void> | undefined;
  readonly #closedPromise: Promise<void>;
  #resolveClosed: () => void = () => {};
  readonly #closedSignal = new AbortController();
  /** The absolute deadline for logging in (the idle timer restarts with every byte). */
  #loginTimer: NodeJS.Timeout | undefined;

  constructor(context: ServerContext, stream: Duplex, hooks: ConnectionHooks) {
    this.#context = context;
    this.#hooks = hooks;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#remoteAddress =
      hooks.remoteAddress ?? (stream as { remoteAddress?: string }).remoteAddress ?? "unknown";
    const { limits, logger } = context.options;
    this.#session = new ServerSession({
      tls: stream instanceof TLSSocket,
      limits: {
        maxLineLength: limits.maxLineLength,
        maxArgumentLength: limits.maxArgumentLength,
        maxSaslLineLength: limits.maxSaslLineLength,
      },
    });
    this.#stream = new ClientStream(
      stream,
      {
        data: (chunk) => this.#onData(chunk),
        close: () => this.#handleClose(),
        idle: () => this.#onIdle(),
        who: () => ({ connection: this.id, user: this.#user }),
      },
      { stats: context.stats, logger, limits },
    );
    this.#host = this.#makeHost();
    this.#phase = new AuthorizationPhase(this.#host);
  }

  get #log() {
    return this.#context.options.logger;
  }

  /** The logged-in user, for logs. */
  get #user(): string | undefined {
    return this.#phase instanceof TransactionPhase ? this.#phase.user : undefined;
  }

  /**
   * Nothing more can reach the client: closed by us, or the stream destroyed (its `close` event
   * comes later). A loop that writes must stop on this, or it spins on a dead stream.
   */
  get #gone(): boolean {
    return this.#closed || this.#stream.destroyed;
  }

  /** Sends the greeting and starts the timers. */
  start(): void {
    const { limits } = this.#context.options;
    this.#stream.setIdleTimeout(limits.preLoginTimeoutMs);
    this.#loginTimer = setTimeout(() => {
      this.#log.info({ connection: this.id, address: this.#remoteAddress }, "login timeout");
      this.terminate({ ok: false, text: "login took too long, closing" });
    }, limits.loginTimeoutMs);
    this.#stream.send(this.#session.greet((this.#phase as AuthorizationPhase).greeting()));
    this.#stream.flush();
    this.#log.debug(
      { connection: this.id, address: this.#remoteAddress, tls: this.#session.tls },
      "connection opened",
    );
  }

  /** Ends the session now, without UPDATE: nothing is deleted. For shutdown and limits. */
  terminate(reason: StatusReply): void {
    if (this.#closed) return;
    // A client in the middle of a reply must not get a stray line; an idle one is told why.
    const farewell = this.#session.closeWith(reason);
    if (!this.#busy) this.#stream.send(farewell);
    this.#stream.flush();
    this.#closed = true;
    this.#stream.end();
  }

  /** Resolves when the connection is closed and its maildrop released. */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** The phases' only way to the client (see `PhaseHost`). */
  #makeHost(): PhaseHost {
    const connection = this;
    const session = this.#session;
    const stream = this.#stream;
    return {
      id: this.id,
      remoteAddress: this.#remoteAddress,
      context: this.#context,
      get tls() {
        return session.tls;
      },
      get closed() {
        return connection.#closed;
      },
      closedSignal: this.#closedSignal.signal,
      reply: (reply) => stream.send(session.sendReply(reply)),
      replyLines: (reply, lines) => this.#replyLines(reply, lines),
      challenge: (bytes) => stream.send(session.sendChallenge(bytes)),
      sendBody: (reply, source, take, octets) => this.#sendBody(reply, source, take, octets),
      sendWholeBody: (reply, body, take, octets) => this.#sendWholeBody(reply, body, take, octets),
      end: () => this.#end(),
      closeWith: (reply) => {
        stream.send(session.closeWith(reply));
        this.#end();
      },
      terminate: (reply) => this.terminate(reply),
      countBadCommand: () => this.#countBadCommand(),
    };
  }

  /**
   * A multi-line answer of text lines. A long listing (UIDL of a maildrop with 100,000 messages)
   * goes out in slices, each waiting for the client to read the one before, like a message body.
   */
  #replyLines(reply: StatusReply, lines: readonly string[]): Promise<void> | undefined {
    if (lines.length <= LISTING_SLICE_LINES) {
      this.#stream.send(this.#session.sendLines(reply, lines));
      return undefined;
    }
    return this.#sendListing(reply, lines);
  }

  async #sendListing(reply: StatusReply, lines: readonly string[]): Promise<void> {
    const session = this.#session;
    this.#stream.send(session.sendMultilineStart(reply));
    for (let start = 0; start < lines.length; start += LISTING_SLICE_LINES) {
      this.#stream.send(
        session.sendMultilineLines(lines.slice(start, start + LISTING_SLICE_LINES)),
      );
      if (this.#stream.queuedBytes >= WRITE_BATCH_BYTES) await this.#stream.flushAndDrain();
      if (this.#gone) return;
    }
    this.#stream.send(session.sendMultilineEnd());
  }

  /**
   * Streams a multi-line answer from `source` through core's encoder, waiting for the client to
   * read whenever the stream's buffer is full, so a message of any size costs only a chunk of
   * memory. `take` may cut each chunk (TOP) and says when to stop reading. Answers shorter than
   * `WRITE_BATCH_BYTES` stay queued and go out in one write once the command is done.
   *
   * `octets`: the size the `+OK` announced (RETR). A message that changed on disk since then and
   * streams more or fewer octets is not ended with the terminator — the client would take a
   * wrong message for a whole one — but cut off: the connection is destroyed and the error
   * logged, as Dovecot does. Resolves `false` then.
   */
  async #sendBody(
    reply: StatusReply,
    source: AsyncIterable<Uint8Array>,
    take?: BodyFilter,
    octets?: number,
  ): Promise<boolean> {
    const session = this.#session;
    const stream = this.#stream;
    stream.send(session.sendMultilineStart(reply));
    for await (const chunk of source) {
      if (this.#gone) return false;
      const piece = take === undefined ? chunk : take.push(chunk);
      if (piece.length > 0) {
        stream.send(session.sendMultilineData(piece));
        if (octets !== undefined && session.multilineOctets > octets) break;
        if (stream.queuedBytes >= WRITE_BATCH_BYTES) await stream.flushAndDrain();
      }
      if (take?.done) break;
    }
    return this.#endBody(octets);
  }

  /**
   * `#sendBody` for a body the store gave whole (a small message): encoded and queued at once,
   * without a promise; it leaves with its status line and terminator when the command is done.
   */
  #sendWholeBody(
    reply: StatusReply,
    body: Uint8Array,
    take?: BodyFilter,
    octets?: number,
  ): boolean {
    const session = this.#session;
    this.#stream.send(session.sendMultilineStart(reply));
    if (body.length === 0) return this.#endBody(octets);
    if (this.#gone) return false;
    const piece = take === undefined ? body : take.push(body);
    if (piece.length > 0) this.#stream.send(session.sendMultilineData(piece));
    return this.#endBody(octets);
  }

  /**
   * Ends a multi-line answer with the terminator, unless it streamed other than the `octets`
   * announced: then the connection is cut (see `#sendBody`) and the answer is not complete.
   */
  #endBody(octets: number | undefined): boolean {
    const session = this.#session;
    if (octets !== undefined && session.multilineOctets !== octets) {
      this.#log.error(
        {
          connection: this.id,
          user: this.#user,
          announced: octets,
          streamed: session.multilineOctets,
        },
        "message changed while it was sent: connection dropped instead of ending the answer",
      );
      this.#abort();
      return false;
    }
    this.#stream.send(session.sendMultilineEnd());
    return true;
  }

  /** Sends what is queued and closes the connection. */
  #end(): void {
    this.#stream.flush();
    this.#closed = true;
    this.#session.close();
    this.#stream.end();
  }

  /** Cuts the connection without another byte: a multi-line answer must not look complete. */
  #abort(): void {
    this.#closed = true;
    this.#session.close();
    this.#stream.abort();
  }

  /** Starts TLS after the `+OK` to STLS has been queued (RFC 2595 §4). */
  #startTls(): void {
    const tls = this.#context.tls;
    if (tls === undefined) throw new Error("STLS accepted without TLS configured");
    const raw = this.#stream.release();
    serverHandshake(raw, {
      setup: tls,
      timeoutMs: this.#context.options.limits.tlsHandshakeTimeoutMs,
      onSecure: (secure) => {
        if (this.#session.discardedAfterStls > 0) {
          this.#log.warn(
            { connection: this.id, bytes: this.#session.discardedAfterStls },
            "discarded plaintext sent after STLS",
          );
        }
        this.#session.tlsEstablished();
        this.#stream.adopt(secure);
        this.#stream.setIdleTimeout(this.#context.options.limits.preLoginTimeoutMs);
        this.#pump();
      },
      onFailure: (reason) => {
        this.#log.debug({ connection: this.id }, reason);
        this.#handleClose();
      },
    });
  }

  /** The login succeeded: the TRANSACTION phase takes over the open maildrop. */
  #enterTransaction(login: LoggedIn): void {
    if (this.#releasing !== undefined) {
      // Closed in the meantime: nothing will release this maildrop but us.
      void login.mailbox.maildrop.release().catch(() => {});
      return;
    }
    clearTimeout(this.#loginTimer);
    this.#hooks.onLogin?.();
    this.#phase = new TransactionPhase(this.#host, login.user, login.mailbox);
    this.#context.stats.sessions += 1;
    this.#stream.setIdleTimeout(this.#context.options.limits.idleTimeoutMs);
    this.#log.info(
      {
        connection: this.id,
        user: login.user,
        address: this.#remoteAddress,
        messages: login.mailbox.maildrop.messages.length,
      },
      "logged in",
    );
  }

  #onData(chunk: Buffer): void {
    this.#session.receiveData(chunk);
    if (this.#session.bufferedBytes > this.#context.options.limits.maxPipelinedBytes) {
      // Pipelined input waits in the socket, not in our memory, until we catch up.
      this.#stream.pauseInput();
    }
    this.#pump();
  }

  #onIdle(): void {
    this.#log.info({ connection: this.id, user: this.#user }, "idle timeout");
    if (this.#phase instanceof TransactionPhase) this.#phase.timedOut();
    // RFC 1939 §3: an autologout timer ends the session without entering UPDATE.
    this.terminate({ ok: false, text: "disconnected for inactivity" });
  }

  #handleClose(): void {
    if (this.#releasing !== undefined) return;
    clearTimeout(this.#loginTimer);
    this.#stream.stopTimers();
    this.#closed = true;
    this.#session.close();
    const phase = this.#phase;
    // A dropped connection deletes nothing (RFC 1939 §6): release the lock, commit nothing.
    this.#releasing = (phase instanceof TransactionPhase ? phase.closed() : Promise.resolve())
      .catch((error: unknown) => {
        this.#log.error(
          { connection: this.id, err: String(error) },
          "releasing the maildrop failed",
        );
      })
      .finally(() => {
        this.#log.debug({ connection: this.id }, "connection closed");
        this.#hooks.onClosed();
        this.#resolveClosed();
        this.#closedSignal.abort();
      });
  }

  /** Reads events and answers them strictly in order, one at a time. */
  #pump(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      // Bytes that arrive as the loop is finishing (a TLS socket emits its first data right after
      // `secure`, in the same turn as STLS's pump) must not wait for the next chunk to be read.
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    void this.#pumpLoop().finally(() => {
      this.#pumping = false;
      if (this.#pumpAgain) {
        this.#pumpAgain = false;
        this.#pump();
      }
    });
  }

  async #pumpLoop(): Promise<void> {
    const stream = this.#stream;
    try {
      const { outputHighWaterBytes } = this.#context.options.limits;
      for (;;) {
        if (this.#gone) break;
        if (stream.unsentBytes > outputHighWaterBytes) {
          // The client is not reading its answers: read no more of its commands until it does
          // (smtp-server's rule), so 100,000 pipelined UIDLs cost one high-water mark, not 1 GB.
          stream.pauseInput();
          await stream.flushAndDrain();
          if (this.#gone) break;
        }
        const event = this.#session.nextEvent();
        if (event === NEED_DATA) {
          stream.resumeInput();
          break;
        }
        if (event === PAUSED) break;
        this.#busy = true;
        const pending = this.#dispatch(event);
        if (pending !== undefined) {
          // Answers so far go out before a slow step (store, auth, throttling delay).
          stream.flush();
          await pending;
        }
        this.#busy = false;
        if (this.#session.state === "TLS_HANDSHAKE") {
          this.#startTls();
          return;
        }
      }
      stream.flush();
    } catch (error) {
      this.#log.error(
        { connection: this.id, err: error instanceof Error ? error.message : String(error) },
        "session failed",
      );
      this.#busy = false;
      this.terminate({ ok: false, code: "SYS/TEMP", text: "internal error" });
    }
  }

  /** Hands one event to the phase; a promise when its answer waits on something. */
  #dispatch(event: ServerEvent): Promise<void> | undefined {
    this.#context.stats.commands += 1;
    const phase = this.#phase;
    switch (event.type) {
      case "rejected":
        this.#host.reply(event.reply);
        this.#countBadCommand();
        return undefined;
      case "sasl-response":
      case "sasl-cancelled":
        // Core reads SASL responses only during an AUTH exchange, which only happens before login.
        return this.#afterLogin((phase as AuthorizationPhase).saslResponse(event));
      case "command":
        observe(this.#context.options.observer, "onCommand", event.command.name);
        if (phase instanceof TransactionPhase) return phase.command(event.command);
        return this.#afterLogin(phase.command(event.command));
    }
  }

  /** Swaps to the TRANSACTION phase if the AUTHORIZATION phase's answer was a login. */
  #afterLogin(pending: Promise<LoggedIn | undefined> | undefined): Promise<void> | undefined {
    return pending?.then((login) => {
      if (login !== undefined) this.#enterTransaction(login);
    });
  }

  /** Counts a refused or unknown command; too many of them end the connection. */
  #countBadCommand(): void {
    if (++this.#badCommands < this.#context.options.limits.maxBadCommands) return;
    this.#log.info({ connection: this.id, address: this.#remoteAddress }, "too many bad commands");
    this.#stream.send(
      this.#session.closeWith({ ok: false, text: "too many bad commands, closing" }),
    );
    this.#end();
  }
}
