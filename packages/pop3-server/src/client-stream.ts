import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ServerStats } from "./context";
import type { Logger } from "./logger";
import type { ServerLimits } from "./options";

export interface ClientStreamEvents {
  /** Bytes from the client. */
  readonly data: (chunk: Buffer) => void;
  /** The stream closed (either side, or destroyed). */
  readonly close: () => void;
  /** Nothing went either way for the idle time set with `setIdleTimeout`. */
  readonly idle: () => void;
  /** Who this is, for log lines. */
  readonly who: () => { readonly connection: number; readonly user?: string | undefined };
}

/**
 * The client's byte stream as one connection uses it: answers queued in an outbox and written in
 * batches, waits for a client that reads slowly (bounded by `writeTimeoutMs`), input paused and
 * resumed, the idle timer, and a close that a client which never reads cannot hold up (bounded
 * by `closeTimeoutMs`). The stream is a TCP or TLS socket, or any duplex stream (`serve`); after
 * STLS it is replaced by the TLS socket wrapped around it.
 */
export class ClientStream {
  #stream: Duplex;
  readonly #events: ClientStreamEvents;
  readonly #stats: ServerStats;
  readonly #logger: Logger;
  readonly #limits: ServerLimits;
  #outbox: Uint8Array[] = [];
  /** Octets in `#outbox`. */
  #outboxBytes = 0;
  #paused = false;
  /** Destroys the stream if a closing client has not read its last answer in time. */
  #closeTimer: NodeJS.Timeout | undefined;
  /** The idle time; on a socket, the socket's own timer applies it. */
  #idleMs = 0;
  /** The idle timer of a stream that is not a socket. */
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(
    stream: Duplex,
    events: ClientStreamEvents,
    server: { readonly stats: ServerStats; readonly logger: Logger; readonly limits: ServerLimits },
  ) {
    this.#stream = stream;
    this.#events = events;
    this.#stats = server.stats;
    this.#logger = server.logger;
    this.#limits = server.limits;
    this.#attach(stream);
  }

  /** The stream is destroyed: nothing more can be written (its `close` event may come later). */
  get destroyed(): boolean {
    return this.#stream.destroyed;
  }

  /** Octets queued in the outbox, not yet given to the stream. */
  get queuedBytes(): number {
    return this.#outboxBytes;
  }

  /** Output not yet taken by the client: the outbox and what the stream still buffers. */
  get unsentBytes(): number {
    return this.#outboxBytes + this.#stream.writableLength;
  }

  /** Queues bytes; they go out with the next `flush`. */
  send(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#outbox.push(bytes);
    this.#outboxBytes += bytes.length;
  }

  /** Writes what is queued; false when the stream's buffer is full. */
  flush(): boolean {
    const stream = this.#stream;
    if (this.#outbox.length === 0 || stream.destroyed) {
      this.#outbox = [];
      this.#outboxBytes = 0;
      return true;
    }
    const parts = this.#outbox;
    this.#stats.bytesSent += this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#touch();
    if (parts.length === 1) return stream.write(parts[0] as Uint8Array);
    // Several parts (status line, body, terminator) leave in one writev: no copy into a new
    // buffer, which for a 10 KB message was an allocation per RETR that the GC then paid for.
    stream.cork();
    let ok = true;
    for (const part of parts) ok = stream.write(part);
    stream.uncork();
    return ok;
  }

  /** Writes what is queued; if the stream's buffer is full, waits until the client reads it. */
  async flushAndDrain(): Promise<void> {
    this.flush();
    const stream = this.#stream;
    if (!stream.writableNeedDrain || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stream.off("drain", done);
        stream.off("close", done);
        resolve();
      };
      // A client that stops reading must not hold the session (and its lock) forever.
      const timer = setTimeout(() => {
        this.#logger.warn(this.#events.who(), "client stopped reading; dropping it");
        stream.destroy();
        done();
      }, this.#limits.writeTimeoutMs);
      stream.once("drain", done);
      stream.once("close", done);
    });
  }

  pauseInput(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#stream.pause();
  }

  resumeInput(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#stream.resume();
  }

  /**
   * Inactivity allowed from now on; 0 turns the timer off. A socket's own timer is used, which
   * any read or write restarts; another stream gets one here that data either way restarts.
   */
  setIdleTimeout(ms: number): void {
    this.#idleMs = ms;
    const stream = this.#stream;
    if (stream instanceof Socket) stream.setTimeout(ms);
    else this.#touch();
  }

  /**
   * Ends the stream, and destroys it if the client has not read the last answer within
   * `closeTimeoutMs`: a client that never reads must not keep its socket, its memory or its
   * maildrop lock, and shutdown must not wait for it.
   */
  end(): void {
    const stream = this.#stream;
    stream.end();
    if (this.#closeTimer !== undefined || stream.destroyed) return;
    this.#closeTimer = setTimeout(() => stream.destroy(), this.#limits.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  /** Destroys the stream without another byte; whatever was queued is dropped. */
  abort(): void {
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#stream.destroy();
  }

  /**
   * Hands the stream over (STLS: the TLS handshake takes it) after writing what is queued; this
   * object hears nothing from it until `adopt` gives it a stream again.
   */
  release(): Duplex {
    this.flush();
    const stream = this.#stream;
    this.#detach(stream);
    this.setIdleTimeout(0);
    return stream;
  }

  /** Takes `stream` as the client's stream from now on (the TLS socket after STLS). */
  adopt(stream: Duplex): void {
    this.#stream = stream;
    this.#attach(stream);
  }

  /** The connection is over: no timer of this stream may fire any more. */
  stopTimers(): void {
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#idleMs = 0;
  }

  /** Restarts the idle timer of a stream that is not a socket. */
  #touch(): void {
    if (this.#stream instanceof Socket) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#idleMs <= 0) return;
    this.#idleTimer = setTimeout(this.#onIdle, this.#idleMs);
    this.#idleTimer.unref();
  }

  #attach(stream: Duplex): void {
    stream.on("data", this.#onData);
    stream.on("timeout", this.#onIdle);
    stream.on("error", this.#onError);
    stream.on("close", this.#events.close);
  }

  #detach(stream: Duplex): void {
    stream.off("data", this.#onData);
    stream.off("timeout", this.#onIdle);
    stream.off("error", this.#onError);
    stream.off("close", this.#events.close);
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#stats.bytesReceived += chunk.length;
    this.#touch();
    this.#events.data(chunk);
  };

  readonly #onIdle = (): void => this.#events.idle();

  readonly #onError = (error: Error): void => {
    this.#logger.debug(
      { connection: this.#events.who().connection, err: error.message },
      "socket error",
    );
  };
}
