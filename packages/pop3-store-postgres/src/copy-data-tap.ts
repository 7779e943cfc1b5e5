import type { Duplex } from "node:stream";

type DataListener = (chunk: Buffer) => void;

const COPY_OUT_RESPONSE = 0x48; // 'H'
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
/** Type byte and int32 length (which counts itself, not the type byte). */
const HEADER = 5;
/** CopyOutResponse's payload for one column: int8 format, int16 column count, int16 format. */
const ONE_COLUMN_RESPONSE = 5;

/**
 * Reads a connection's socket itself while the backend answers a `COPY ... TO STDOUT (FORMAT
 * binary)`, and hands each CopyData payload on as a view of the socket's own read.
 *
 * Why: pg's parser appends every socket read to one buffer of its own whenever a message spans
 * reads (a copy of everything a large COPY sends), then hands out views of that buffer, which it
 * overwrites later (so each value had to be copied once more). A Node stream's `data` chunk
 * belongs to its listener (only a socket made with the `onread` option reuses one buffer, and
 * pg makes none), so views of it may be kept. The two copies and their allocations were some
 * 40 % of a node's CPU on a RETR from PostgreSQL.
 *
 * Only an uninterrupted copy is taken: CopyOutResponse (first, one binary column), CopyData and
 * CopyDone. At the first other message (CommandComplete, ErrorResponse, a notice, anything), the
 * tap lets go at that message's first byte: pg's listeners are put back and get the rest, so pg
 * sees the end of the query (or the error) itself and runs its handlers as it always does. A
 * copy that pg finishes (after a notice) simply reaches `handleCopyData` through pg again.
 */
export class CopyDataTap {
  readonly #stream: Duplex;
  readonly #onPayload: (piece: Buffer) => void;
  /** pg's `data` listeners, put back when the tap lets go. */
  readonly #saved: DataListener[];
  readonly #header = Buffer.alloc(HEADER);
  #headerFilled = 0;
  /** Type of the message whose payload is being read; its payload bytes still to come. */
  #type = 0;
  #left = 0;
  #messages = 0;
  #tapping = true;

  constructor(stream: Duplex, onPayload: (piece: Buffer) => void) {
    this.#stream = stream;
    this.#onPayload = onPayload;
    this.#saved = stream.rawListeners("data") as DataListener[];
    stream.removeAllListeners("data");
    stream.on("data", this.#onData);
  }

  /** Whether the tap still reads the socket (it lets go once, for good). */
  get tapping(): boolean {
    return this.#tapping;
  }

  readonly #onData = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#left === 0) {
        const headerStart = offset;
        const take = Math.min(HEADER - this.#headerFilled, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + take);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < HEADER) return;
        this.#headerFilled = 0;
        const type = this.#header[0] as number;
        const length = this.#header.readUInt32BE(1) - 4;
        if (!this.#takes(type, length)) {
          // Give pg the whole message, header included (part of it may be from an earlier read).
          const begun = offset - headerStart;
          const rest =
            begun === HEADER
              ? chunk.subarray(headerStart)
              : Buffer.concat([this.#header, chunk.subarray(offset)]);
          this.#letGo(rest);
          return;
        }
        this.#type = type;
        this.#left = length;
        this.#messages += 1;
        if (length === 0) continue;
      }
      const take = Math.min(this.#left, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      offset += take;
      this.#left -= take;
      if (this.#type === COPY_DATA) this.#onPayload(piece);
    }
  };

  /**
   * Whether the message is one the tap reads; any other ends the tap. The first must be the
   * CopyOutResponse of one column (whether the data is really binary, the COPY parser checks):
   * anything else at the start, even bytes pg's parser might have kept from before, goes to pg.
   */
  #takes(type: number, length: number): boolean {
    if (this.#messages === 0) return type === COPY_OUT_RESPONSE && length === ONE_COLUMN_RESPONSE;
    return type === COPY_DATA || (type === COPY_DONE && length === 0);
  }

  #letGo(rest: Buffer): void {
    this.#tapping = false;
    const stream = this.#stream;
    stream.removeListener("data", this.#onData);
    for (const listener of this.#saved) stream.on("data", listener);
    for (const listener of this.#saved) listener.call(stream, rest);
  }
}
