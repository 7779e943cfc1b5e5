import type { Duplex } from "node:stream";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import {
  ClientSession,
  type Greeting,
  LocalProtocolError,
  NEED_DATA,
  RemoteProtocolError,
  type StatusReply,
  serializeStatusLine,
} from "pop3-core";
import { ClientError } from "./errors";
import type { Operation } from "./operation";
import type { ResolvedClientOptions, TraceEvent } from "./options";
import { serverIdentity } from "./sni";

/**
 * The I/O shell around core's `ClientSession`: writes each queued command when the session says
 * it may (`readyToSend`: pipelining and its limits are core's rules), feeds the socket's bytes to
 * the session, and hands each event to the operation it answers (the event carries it as its
 * context). It never looks at POP3 bytes itself. A protocol error, a timeout or a lost connection
 * fails every operation and closes the socket: after that, no byte can be misread as a reply.
 */
export class Channel {
  readonly session: ClientSession<Operation>;
  #socket: Duplex;
  readonly #options: ResolvedClientOptions;
  /** Operations not written yet; those written are the session's `inFlightContexts`. */
  #queued: Operation[] = [];
  #failure: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerMs = 0;
  #timerWhat = "";
  #idleTimer: NodeJS.Timeout | undefined;
  #greeting: { resolve(g: Greeting): void; reject(e: Error): void } | undefined;
  #pausedByReader = false;

  constructor(socket: Duplex, options: ResolvedClientOptions, tls: boolean) {
    this.#socket = socket;
    this.#options = options;
    this.session = new ClientSession<Operation>({
      tls,
      lenientLineEnds: options.lenientLineEnds,
      maxLineLength: options.maxLineLength,
      pipelining: options.pipelining,
    });
    this.#attach(socket);
  }

  get socket(): Duplex {
    return this.#socket;
  }

  get closed(): boolean {
    return this.#failure !== undefined;
  }

  /** Resolves with the greeting, or rejects after `timeouts.greeting`. */
  greeting(): Promise<Greeting> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(this.#failure);
        return;
      }
      this.#greeting = { resolve, reject };
      this.#arm(this.#options.timeouts.greeting, "no greeting from the server");
    });
  }

  /** Queues an operation; it is written as soon as the pipelining rules allow. */
  submit(operation: Operation): void {
    if (this.#failure !== undefined) {
      operation.onError(this.#failure);
      return;
    }
    this.#queued.push(operation);
    this.#pump();
  }

  /** Writes the answer to a SASL challenge (or `*`). */
  writeSasl(bytes: Uint8Array, shown: string): void {
    this.#trace({ direction: "send", line: shown });
    this.#socket.write(bytes);
  }

  /** Replaces the plain socket by TLS after `+OK` to STLS (RFC 2595 §4). */
  async startTls(host: string): Promise<void> {
    const raw = this.#socket;
    this.#detach(raw);
    this.#clearTimer();
    const { tlsOptions, timeouts } = this.#options;
    const secure: TLSSocket = tlsConnect({
      socket: raw,
      ...serverIdentity(host, tlsOptions.servername).tlsOptions,
      rejectUnauthorized: tlsOptions.rejectUnauthorized,
      minVersion: tlsOptions.minVersion,
      ...(tlsOptions.ca === undefined ? {} : { ca: tlsOptions.ca }),
    });
    await waitForHandshake(secure, timeouts.connect);
    this.session.tlsEstablished();
    this.#socket = secure;
    this.#attach(secure);
    this.#pump();
  }

  /** Pauses reading (a body consumer is full); commands in flight wait with it. */
  pauseReading(): void {
    this.#pausedByReader = true;
    this.#socket.pause();
    this.#clearTimer();
  }

  resumeReading(): void {
    if (!this.#pausedByReader) return;
    this.#pausedByReader = false;
    this.#socket.resume();
    if (this.session.inFlight.length > 0)
      this.#arm(this.#options.timeouts.command, "the server stopped answering");
  }

  /** Fails everything and closes the socket. Safe to call more than once. */
  destroy(error: Error = new ClientError("POP3_CLOSED", "connection closed")): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#clearTimer();
    clearTimeout(this.#idleTimer);
    this.#greeting?.reject(error);
    this.#greeting = undefined;
    const pending = [...this.session.inFlightContexts, ...this.#queued];
    this.#queued = [];
    for (const operation of pending) operation?.onError(error);
    this.#socket.destroy();
  }

  /** Ends the connection after what was written has been sent. */
  end(): void {
    this.#failure ??= new ClientError("POP3_CLOSED", "connection closed");
    this.#clearTimer();
    clearTimeout(this.#idleTimer);
    this.#socket.end();
  }

  #attach(socket: Duplex): void {
    socket.on("data", this.#onData);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #detach(socket: Duplex): void {
    socket.off("data", this.#onData);
    socket.off("error", this.#onError);
    socket.off("close", this.#onClose);
  }

  #onData = (chunk: Buffer): void => {
    try {
      this.session.receiveData(chunk);
      this.#drainEvents();
    } catch (error) {
      this.destroy(
        error instanceof RemoteProtocolError || error instanceof ClientError
          ? error
          : new ClientError("POP3_CONNECTION", "failed to handle server data", { cause: error }),
      );
    }
  };

  #onError = (error: Error): void => {
    this.destroy(
      new ClientError("POP3_CONNECTION", `connection error: ${error.message}`, { cause: error }),
    );
  };

  #onClose = (): void => {
    this.destroy(new ClientError("POP3_CLOSED", "the server closed the connection"));
  };

  #drainEvents(): void {
    if (this.session.inFlight.length > 0 || this.#greeting !== undefined) {
      this.#arm(this.#options.timeouts.command, "the server stopped answering");
    }
    for (;;) {
      if (this.#failure !== undefined) return;
      const event = this.session.nextEvent();
      if (event === NEED_DATA) break;
      if (event.type === "greeting") {
        this.#trace({ direction: "receive", line: statusLine(event.greeting) });
        this.#clearTimer();
        const waiter = this.#greeting;
        this.#greeting = undefined;
        waiter?.resolve(event.greeting);
        continue;
      }
      this.#traceEvent(event);
      // Every command is sent with its operation as context. An abandoned operation's answer is
      // still read to its end (the session does that), and dropped.
      const operation = event.context;
      if (operation !== undefined && !operation.abandoned) operation.onEvent(event);
      if (this.session.state === "TLS_HANDSHAKE") return;
    }
    if (this.session.inFlight.length === 0) this.#clearTimer();
    this.#pump();
  }

  #pump(): void {
    if (this.#failure !== undefined) return;
    while (this.#queued.length > 0 && this.session.readyToSend) {
      const operation = this.#queued.shift() as Operation;
      if (operation.abandoned) continue;
      let bytes: Uint8Array;
      try {
        bytes = this.session.send(operation.command, {
          context: operation,
          ...(operation.multiline === undefined ? {} : { multiline: operation.multiline }),
        });
      } catch (error) {
        if (!(error instanceof LocalProtocolError)) throw error;
        operation.onError(error);
        continue;
      }
      this.#trace({ direction: "send", line: operation.label });
      this.#socket.write(bytes);
    }
    if (this.session.inFlight.length > 0 && this.#timer === undefined && !this.#pausedByReader) {
      this.#arm(this.#options.timeouts.command, "the server stopped answering");
    }
    this.#armIdle();
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    const idle = this.#options.timeouts.idle;
    if (idle === 0 || this.session.inFlight.length > 0 || this.#queued.length > 0) return;
    this.#idleTimer = setTimeout(() => {
      this.destroy(new ClientError("POP3_TIMEOUT", `idle for ${idle} ms; closed without QUIT`));
    }, idle);
    this.#idleTimer.unref();
  }

  #arm(ms: number, what: string): void {
    // Re-armed on every chunk of a long answer: refresh the running timer instead of a new one.
    if (this.#timer !== undefined && this.#timerMs === ms && this.#timerWhat === what) {
      this.#timer.refresh();
      return;
    }
    this.#clearTimer();
    this.#timerMs = ms;
    this.#timerWhat = what;
    this.#timer = setTimeout(
      () => this.destroy(new ClientError("POP3_TIMEOUT", `${what} within ${ms} ms`)),
      ms,
    );
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #trace(event: TraceEvent): void {
    this.#options.trace?.(event);
  }

  #traceEvent(event: Parameters<Operation["onEvent"]>[0]): void {
    if (this.#options.trace === undefined) return;
    switch (event.type) {
      case "reply":
      case "body-start":
        this.#trace({ direction: "receive", line: statusLine(event.reply) });
        return;
      case "listing":
        this.#trace({ direction: "receive", line: statusLine(event.reply) });
        for (const line of event.lines) this.#trace({ direction: "receive", line });
        this.#trace({ direction: "receive", line: "." });
        return;
      case "body-end":
        this.#trace({ direction: "receive", line: `[${event.size} octets]` });
        this.#trace({ direction: "receive", line: "." });
        return;
      case "sasl-challenge":
        this.#trace({
          direction: "receive",
          line: `+ [challenge, ${event.challenge.length} octets]`,
        });
        return;
      case "body-data":
        return;
    }
  }
}

function statusLine(reply: StatusReply): string {
  try {
    return serializeStatusLine(reply);
  } catch {
    // A reply core could parse but would not write (odd text): show it plainly.
    return `${reply.ok ? "+OK" : "-ERR"} ${reply.text}`;
  }
}

function waitForHandshake(socket: TLSSocket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ClientError("POP3_TIMEOUT", `TLS handshake did not finish within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(new ClientError("POP3_TLS", `TLS failed: ${error.message}`, { cause: error }));
    });
  });
}
