import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import {
  type Capability,
  NEED_DATA,
  PAUSED,
  type ServerEvent,
  ServerSession,
  type StatusReply,
} from "pop3-core";
import { continueSasl, handleAuthorization, type SaslState } from "./authorization";
import { buildCapabilities } from "./capabilities";
import { type ServerContext, uniqueTimestamp } from "./context";
import type { Mailbox } from "./mailbox";
import { observe, type SessionOutcome } from "./observer";
import { serverHandshake } from "./tls-handshake";
import { handleTransaction } from "./transaction";

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
  /** The client's real address when it is not the socket's peer (PROXY). */
  readonly remoteAddress?: string;
  /** The session logged in (it leaves the server's pre-login pool). */
  readonly onLogin?: () => void;
  /** The connection is closed and its maildrop released. */
  readonly onClosed: () => void;
}

/**
 * One client connection: owns the socket, the timers and the core `ServerSession`, reads events
 * one at a time and hands commands to the AUTHORIZATION or TRANSACTION handlers. It never looks
 * at POP3 bytes itself; core frames and parses everything.
 */
export class Connection {
  readonly id = nextConnectionId++;
  readonly context: ServerContext;
  readonly remoteAddress: string;
  readonly session: ServerSession;
  /** The `<...>` of the greeting: APOP's timestamp. */
  readonly timestamp: string;

  /** After a successful login: the user and their maildrop. */
  user: string | undefined;
  mailbox: Mailbox | undefined;
  /** The name given by a successful USER, waiting for PASS. */
  pendingUser: string | undefined;
  sasl: SaslState | undefined;
  authFailures = 0;
  /** How the logged-in session ended, once known (QUIT sets it); reported to the observer. */
  outcome: SessionOutcome | undefined;

  #socket: Socket;
  #outbox: Uint8Array[] = [];
  /** Octets in `#outbox`. */
  #outboxBytes = 0;
  #pumping = false;
  #closed = false;
  #paused = false;
  #badCommands = 0;
  #commandsBeforeLogin = 0;
  /** A command is being handled; shutdown waits for it. */
  #busy = false;
  readonly #hooks: ConnectionHooks;
  #releasing: Promise<void> | undefined;
  readonly #closedPromise: Promise<void>;
  #resolveClosed: () => void = () => {};
  /** The absolute deadline for logging in (the idle timer restarts with every byte). */
  #loginTimer: NodeJS.Timeout | undefined;
  /** Destroys the socket if a closing client has not read its last answer in time. */
  #closeTimer: NodeJS.Timeout | undefined;

  constructor(context: ServerContext, socket: Socket, hooks: ConnectionHooks) {
    this.context = context;
    this.#socket = socket;
    this.#hooks = hooks;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.remoteAddress = hooks.remoteAddress ?? socket.remoteAddress ?? "unknown";
    const { limits } = context.options;
    this.session = new ServerSession({
      tls: socket instanceof TLSSocket,
      limits: {
        maxLineLength: limits.maxLineLength,
        maxArgumentLength: limits.maxArgumentLength,
        maxSaslLineLength: limits.maxSaslLineLength,
      },
    });
    this.timestamp = uniqueTimestamp(context.options.hostname);
  }

  get log() {
    return this.context.options.logger;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Nothing more can reach the client: closed by us, or the socket destroyed (its `close` event
   * comes later). A loop that writes must stop on this, or it spins on a dead socket.
   */
  get #gone(): boolean {
    return this.#closed || this.#socket.destroyed;
  }

  get busy(): boolean {
    return this.#busy;
  }

  start(): void {
    this.#attach(this.#socket);
    const { limits } = this.context.options;
    this.#socket.setTimeout(limits.preLoginTimeoutMs);
    this.#loginTimer = setTimeout(() => {
      this.log.info({ connection: this.id, address: this.remoteAddress }, "login timeout");
      this.terminate({ ok: false, text: "login took too long, closing" });
    }, limits.loginTimeoutMs);
    const apop =
      this.context.options.apop && this.context.options.auth.getSharedSecret !== undefined;
    this.#send(
      this.session.greet({
        ok: true,
        text: this.context.options.greeting,
        ...(apop ? { apopTimestamp: this.timestamp } : {}),
      }),
    );
    this.#flush();
    this.log.debug(
      { connection: this.id, address: this.remoteAddress, tls: this.session.tls },
      "connection opened",
    );
  }

  // ---- used by the handlers ----

  reply(reply: StatusReply): void {
    this.#send(this.session.sendReply(reply));
  }

  /**
   * A multi-line answer of text lines. A long listing (UIDL of a maildrop with 100,000 messages)
   * goes out in slices, each waiting for the client to read the one before, like a message body.
   */
  replyLines(reply: StatusReply, lines: readonly string[]): Promise<void> | undefined {
    if (lines.length <= LISTING_SLICE_LINES) {
      this.#send(this.session.sendLines(reply, lines));
      return undefined;
    }
    return this.#sendListing(reply, lines);
  }

  async #sendListing(reply: StatusReply, lines: readonly string[]): Promise<void> {
    this.#send(this.session.sendMultilineStart(reply));
    for (let start = 0; start < lines.length; start += LISTING_SLICE_LINES) {
      this.#send(this.session.sendMultilineLines(lines.slice(start, start + LISTING_SLICE_LINES)));
      if (this.#outboxBytes >= WRITE_BATCH_BYTES) await this.#flushAndDrain();
      if (this.#gone) return;
    }
    this.#send(this.session.sendMultilineEnd());
  }

  challenge(bytes: Uint8Array): void {
    this.#send(this.session.sendChallenge(bytes));
  }

  /** The capabilities this connection offers now. */
  capabilities(): Capability[] {
    return buildCapabilities({
      options: this.context.options,
      tls: this.session.tls,
      stlsAvailable: this.context.tls !== undefined && !this.session.tls,
      mechanisms: this.mechanisms(),
    });
  }

  /**
   * SASL mechanisms usable now: PLAIN and LOGIN only where cleartext passwords may travel,
   * CRAM-MD5 only with a shared-secret source, the OAuth ones only with a token hook.
   */
  mechanisms(): string[] {
    const { options } = this.context;
    const cleartextOk = this.session.tls || options.allowCleartextAuth;
    const usable: Record<(typeof options.saslMechanisms)[number], boolean> = {
      PLAIN: cleartextOk,
      LOGIN: cleartextOk,
      "CRAM-MD5": options.auth.getSharedSecret !== undefined,
      XOAUTH2: cleartextOk && options.auth.verifyToken !== undefined,
      OAUTHBEARER: cleartextOk && options.auth.verifyToken !== undefined,
    };
    return options.saslMechanisms.filter((mechanism) => usable[mechanism]);
  }

  /** Cleartext credentials (USER/PASS, PLAIN, LOGIN) are acceptable on this connection. */
  cleartextAllowed(): boolean {
    return this.session.tls || this.context.options.allowCleartextAuth;
  }

  /** Called once a login succeeded and the maildrop is open and locked. */
  loggedIn(user: string, mailbox: Mailbox): void {
    clearTimeout(this.#loginTimer);
    this.#hooks.onLogin?.();
    this.user = user;
    this.mailbox = mailbox;
    this.pendingUser = undefined;
    this.context.stats.sessions += 1;
    this.#socket.setTimeout(this.context.options.limits.idleTimeoutMs);
    this.log.info(
      {
        connection: this.id,
        user,
        address: this.remoteAddress,
        messages: mailbox.maildrop.messages.length,
      },
      "logged in",
    );
  }

  /**
   * Streams a multi-line answer from `source` through core's encoder, waiting for the socket to
   * drain whenever its buffer is full, so a message of any size costs only a chunk of memory.
   * `take` may cut each chunk (TOP) and says when to stop reading. Answers shorter than
   * `WRITE_BATCH_BYTES` stay queued and go out in one write once the command is done.
   *
   * `octets`: the size the `+OK` announced (RETR). A message that changed on disk since then and
   * streams more or fewer octets is not ended with the terminator — the client would take a
   * wrong message for a whole one — but cut off: the connection is destroyed and the error
   * logged, as Dovecot does. Resolves `false` then.
   */
  async sendBody(
    reply: StatusReply,
    source: AsyncIterable<Uint8Array>,
    take?: { push(chunk: Uint8Array): Uint8Array; readonly done: boolean },
    octets?: number,
  ): Promise<boolean> {
    this.#send(this.session.sendMultilineStart(reply));
    for await (const chunk of source) {
      if (this.#gone) return false;
      const piece = take === undefined ? chunk : take.push(chunk);
      if (piece.length > 0) {
        this.#send(this.session.sendMultilineData(piece));
        if (octets !== undefined && this.session.multilineOctets > octets) break;
        if (this.#outboxBytes >= WRITE_BATCH_BYTES) await this.#flushAndDrain();
      }
      if (take?.done) break;
    }
    if (octets !== undefined && this.session.multilineOctets !== octets) {
      this.log.error(
        {
          connection: this.id,
          user: this.user,
          announced: octets,
          streamed: this.session.multilineOctets,
        },
        "message changed while it was sent: connection dropped instead of ending the answer",
      );
      this.#abort();
      return false;
    }
    this.#send(this.session.sendMultilineEnd());
    return true;
  }

  /** Sends what is queued and closes the connection. */
  end(): void {
    this.#flush();
    this.#closed = true;
    this.session.close();
    this.#closeSocket();
  }

  /**
   * Ends the socket, and destroys it if the client has not read the last answer within
   * `closeTimeoutMs`: a client that never reads must not keep its socket, its memory or its
   * maildrop lock, and shutdown must not wait for it.
   */
  #closeSocket(): void {
    const socket = this.#socket;
    socket.end();
    if (this.#closeTimer !== undefined || socket.destroyed) return;
    this.#closeTimer = setTimeout(
      () => socket.destroy(),
      this.context.options.limits.closeTimeoutMs,
    );
    this.#closeTimer.unref();
  }

  /** Cuts the connection without another byte: a multi-line answer must not look complete. */
  #abort(): void {
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#closed = true;
    this.session.close();
    this.#socket.destroy();
  }

  /** Starts TLS after the `+OK` to STLS has been queued (RFC 2595 §4). */
  startTls(): void {
    const tls = this.context.tls;
    if (tls === undefined) throw new Error("STLS accepted without TLS configured");
    this.#flush();
    const raw = this.#socket;
    this.#detach(raw);
    raw.setTimeout(0);
    serverHandshake(raw, {
      setup: tls,
      timeoutMs: this.context.options.limits.tlsHandshakeTimeoutMs,
      onSecure: (secure) => {
        if (this.session.discardedAfterStls > 0) {
          this.log.warn(
            { connection: this.id, bytes: this.session.discardedAfterStls },
            "discarded plaintext sent after STLS",
          );
        }
        this.session.tlsEstablished();
        this.#socket = secure;
        this.#attach(secure);
        secure.setTimeout(this.context.options.limits.preLoginTimeoutMs);
        this.#pump();
      },
      onFailure: (reason) => {
        this.log.debug({ connection: this.id }, reason);
        this.#handleClose();
      },
    });
  }

  /** Ends the session now, without UPDATE: nothing is deleted. For shutdown and limits. */
  terminate(reason: StatusReply): void {
    if (this.#closed) return;
    // A client in the middle of a reply must not get a stray line; an idle one is told why.
    const farewell = this.session.closeWith(reason);
    if (!this.#busy) this.#send(farewell);
    this.#flush();
    this.#closed = true;
    this.#closeSocket();
  }

  // ---- socket plumbing ----

  #attach(socket: Socket): void {
    socket.on("data", this.#onData);
    socket.on("timeout", this.#onTimeout);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #detach(socket: Socket): void {
    socket.off("data", this.#onData);
    socket.off("timeout", this.#onTimeout);
    socket.off("error", this.#onError);
    socket.off("close", this.#onClose);
  }

  #onData = (chunk: Buffer): void => {
    this.context.stats.bytesReceived += chunk.length;
    this.session.receiveData(chunk);
    if (this.session.bufferedBytes > this.context.options.limits.maxPipelinedBytes) {
      // Pipelined input waits in the socket, not in our memory, until we catch up.
      this.#pauseInput();
    }
    this.#pump();
  };

  #onTimeout = (): void => {
    this.log.info({ connection: this.id, user: this.user }, "idle timeout");
    this.outcome ??= "timeout";
    // RFC 1939 §3: an autologout timer ends the session without entering UPDATE.
    this.terminate({ ok: false, text: "disconnected for inactivity" });
  };

  #onError = (error: Error): void => {
    this.log.debug({ connection: this.id, err: error.message }, "socket error");
  };

  #onClose = (): void => this.#handleClose();

  #handleClose(): void {
    if (this.#releasing !== undefined) return;
    clearTimeout(this.#loginTimer);
    clearTimeout(this.#closeTimer);
    this.#closed = true;
    this.session.close();
    const mailbox = this.mailbox;
    if (mailbox !== undefined) {
      observe(this.context.options.observer, "onSessionEnd", this.outcome ?? "dropped");
    }
    // A dropped connection deletes nothing (RFC 1939 §6): release the lock, commit nothing.
    this.#releasing = (mailbox === undefined ? Promise.resolve() : mailbox.maildrop.release())
      .catch((error: unknown) => {
        this.log.error(
          { connection: this.id, err: String(error) },
          "releasing the maildrop failed",
        );
      })
      .finally(() => {
        this.log.debug({ connection: this.id }, "connection closed");
        this.#hooks.onClosed();
        this.#resolveClosed();
      });
  }

  /** Resolves when the connection is closed and its maildrop released. */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  #send(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#outbox.push(bytes);
    this.#outboxBytes += bytes.length;
  }

  #flush(): boolean {
    if (this.#outbox.length === 0 || this.#socket.destroyed) {
      this.#outbox = [];
      this.#outboxBytes = 0;
      return true;
    }
    const parts = this.#outbox;
    this.context.stats.bytesSent += this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (parts.length === 1) return this.#socket.write(parts[0] as Uint8Array);
    // Several parts (status line, body, terminator) leave in one writev: no copy into a new
    // buffer, which for a 10 KB message was an allocation per RETR that the GC then paid for.
    const socket = this.#socket;
    socket.cork();
    let ok = true;
    for (const part of parts) ok = socket.write(part);
    socket.uncork();
    return ok;
  }

  /** Sends what is queued; if the socket's buffer is full, waits until the client reads it. */
  async #flushAndDrain(): Promise<void> {
    this.#flush();
    const socket = this.#socket;
    if (!socket.writableNeedDrain || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      // A client that stops reading must not hold the session (and its lock) forever.
      const timer = setTimeout(() => {
        this.log.warn(
          { connection: this.id, user: this.user },
          "client stopped reading; dropping it",
        );
        socket.destroy();
        done();
      }, this.context.options.limits.writeTimeoutMs);
      socket.once("drain", done);
      socket.once("close", done);
    });
  }

  /** Output not yet taken by the client: our outbox and what the socket still buffers. */
  #unsentOutput(): number {
    return this.#outboxBytes + this.#socket.writableLength;
  }

  #pauseInput(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  #resumeInput(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket.resume();
  }

  /** Reads events and answers them strictly in order, one at a time. */
  #pump(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    void this.#pumpLoop().finally(() => {
      this.#pumping = false;
    });
  }

  async #pumpLoop(): Promise<void> {
    try {
      const { outputHighWaterBytes } = this.context.options.limits;
      for (;;) {
        if (this.#gone) break;
        if (this.#unsentOutput() > outputHighWaterBytes) {
          // The client is not reading its answers: read no more of its commands until it does
          // (smtp-server's rule), so 100,000 pipelined UIDLs cost one high-water mark, not 1 GB.
          this.#pauseInput();
          await this.#flushAndDrain();
          if (this.#gone) break;
        }
        const event = this.session.nextEvent();
        if (event === NEED_DATA) {
          this.#resumeInput();
          break;
        }
        if (event === PAUSED) break;
        this.#busy = true;
        const pending = this.#dispatch(event);
        if (pending !== undefined) {
          // Answers so far go out before a slow step (store, auth, throttling delay).
          this.#flush();
          await pending;
        }
        this.#busy = false;
        if (this.session.state === "TLS_HANDSHAKE") {
          this.startTls();
          return;
        }
      }
      this.#flush();
    } catch (error) {
      this.log.error(
        { connection: this.id, err: error instanceof Error ? error.message : String(error) },
        "session failed",
      );
      this.#busy = false;
      this.terminate({ ok: false, code: "SYS/TEMP", text: "internal error" });
    }
  }

  #dispatch(event: ServerEvent): Promise<void> | undefined {
    this.context.stats.commands += 1;
    switch (event.type) {
      case "rejected":
        this.reply(event.reply);
        this.countBadCommand();
        return undefined;
      case "sasl-response":
      case "sasl-cancelled":
        return continueSasl(this, event);
      case "command":
        observe(this.context.options.observer, "onCommand", event.command.name);
        if (this.session.state === "TRANSACTION" || this.session.state === "UPDATE") {
          return handleTransaction(this, event.command);
        }
        if (++this.#commandsBeforeLogin > this.context.options.limits.maxCommandsBeforeLogin) {
          this.#send(this.session.closeWith({ ok: false, text: "too many commands before login" }));
          this.end();
          return undefined;
        }
        return handleAuthorization(this, event.command);
    }
  }

  /** Counts a refused or unknown command; too many of them end the connection. */
  countBadCommand(): void {
    if (++this.#badCommands < this.context.options.limits.maxBadCommands) return;
    this.log.info({ connection: this.id, address: this.remoteAddress }, "too many bad commands");
    this.#send(this.session.closeWith({ ok: false, text: "too many bad commands, closing" }));
    this.end();
  }
}
