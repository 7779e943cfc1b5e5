import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";

/**
 * The bytes of one retrieved message (RETR or TOP), unstuffed, exactly as the server sent them.
 * Backpressure reaches the socket: when the consumer stops reading, the client stops reading the
 * connection.
 */
export class MessageStream extends Readable {
  readonly msg: number;
  /** The size from LIST, once known (it is checked when the body ends). */
  expectedSize: number | undefined;
  #onDemand: () => void;
  #received = 0;
  /** Pieces decoded from one socket chunk, pushed together once the chunk is done. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #scheduled = false;

  constructor(msg: number, onDemand: () => void) {
    super({ highWaterMark: 256 * 1024 });
    this.msg = msg;
    this.#onDemand = onDemand;
    // A failure (truncation, lost connection) may come before the caller starts reading. Without a
    // listener Node would crash the process; the error stays on `errored` and still reaches
    // `for await`, `pipeline()` and `bytes()`.
    this.on("error", () => {});
  }

  /** Octets delivered so far. */
  get received(): number {
    return this.#received;
  }

  /** Called by the client for each decoded piece; false means "stop reading the socket". */
  deliver(piece: Uint8Array): boolean {
    this.#received += piece.length;
    // A view, not a copy: the socket allocates a fresh buffer for every read, so nothing reuses it.
    this.#pending.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    this.#pendingBytes += piece.length;
    if (!this.#scheduled) {
      // The pieces of one chunk (cut around stuffed dots) go out as one push after the chunk.
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return this.readableLength + this.#pendingBytes < this.readableHighWaterMark;
  }

  /** The end of the message, after whatever is still pending. */
  finish(): void {
    this.#flush();
    this.push(null);
  }

  #flush(): void {
    this.#scheduled = false;
    const parts = this.#pending;
    if (parts.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!this.destroyed)
      this.push(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
  }

  override _read(): void {
    this.#onDemand();
  }

  /** A web `ReadableStream` view of the same bytes. */
  toWeb(): ReadableStream<Uint8Array> {
    return Readable.toWeb(this) as ReadableStream<Uint8Array>;
  }

  /** Reads the whole message into one Buffer (for small messages). */
  async bytes(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of this) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }
}
