import type { Duplex } from "node:stream";
import { LINE_TOO_LONG, LineReader, MultilineDecoder } from "pop3-core";

/**
 * Reads one side of a POP3 connection answer by answer, with core's LineReader and
 * MultilineDecoder: the proxy never splits lines or finds terminators itself.
 */
export class WireReader {
  readonly #reader = new LineReader(1 << 20);
  readonly #socket: Duplex;
  #waiters: (() => void)[] = [];
  #ended = false;

  constructor(socket: Duplex) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#reader.push(new Uint8Array(chunk));
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The next line without its line end; undefined once the peer has closed. */
  async line(): Promise<Uint8Array | undefined> {
    for (;;) {
      const line = this.#reader.readLine();
      if (line === LINE_TOO_LONG) throw new Error("line too long");
      if (line !== undefined) return line;
      if (this.#ended) return undefined;
      await this.#wait();
    }
  }

  /** The unstuffed body of a multi-line answer whose status line was read. */
  async body(): Promise<Uint8Array | undefined> {
    const decoder = new MultilineDecoder();
    const parts: Uint8Array[] = [];
    for (;;) {
      const pending = this.#reader.takeRest();
      if (pending.length > 0) {
        const { data, done, rest } = decoder.push(pending);
        for (const piece of data) parts.push(piece.slice());
        this.#reader.push(rest);
        if (done) return Buffer.concat(parts);
        continue;
      }
      if (this.#ended) return undefined;
      await this.#wait();
    }
  }

  /** Whatever arrived and was not read (handed over when the proxy stops interpreting). */
  takeRest(): Uint8Array {
    return this.#reader.takeRest();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Stops listening, for raw piping after STLS. */
  detach(): void {
    this.#socket.removeAllListeners("data");
  }
}
