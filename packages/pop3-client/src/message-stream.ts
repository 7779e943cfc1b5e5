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

  constructor(msg: number, onDemand: () => void) {
    super({ highWaterMark: 256 * 1024 });
    this.msg = msg;
    this.#onDemand = onDemand;
  }

  /** Octets delivered so far. */
  get received(): number {
    return this.#received;
  }

  /** Called by the client for each decoded piece; false means "stop reading the socket". */
  deliver(piece: Uint8Array): boolean {
    this.#received += piece.length;
    // A view, not a copy: the socket allocates a fresh buffer for every read, so nothing reuses it.
    return this.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
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
