import type pg from "pg";
import { CopyDataTap } from "./copy-data-tap";

/** A bytea value as the pieces it arrived in (none for an empty value), in order. */
export type Pieces = readonly Buffer[];

/**
 * Runs `COPY (SELECT <one bytea column> ...) TO STDOUT (FORMAT binary)` and resolves with the
 * column's values, raw. Why not a SELECT: pg decodes every field of a result row as UTF-8 text
 * (bytea arrives as hex, twice the size, then decoded again), which caps a RETR at ~60 MB/s; a
 * binary COPY sends the bytes as they are. While the backend sends them, a `CopyDataTap` reads
 * the socket itself, so the values are views of the socket's reads, never copied.
 *
 * A pg "submittable" (the interface pg-cursor and pg-query-stream use): pg calls `submit` when
 * the connection is free, then the `handle*` methods with the backend's messages. It is one
 * simple-protocol statement, so it works through PgBouncer in transaction mode too. The text
 * must come from trusted parts only (no parameters in COPY): callers inline integers they
 * checked themselves.
 */
export class ByteaCopy implements pg.Submittable {
  readonly #text: string;
  readonly #parser = new BinaryCopyParser();
  readonly #settled: Promise<Pieces[]>;
  #resolve!: (values: Pieces[]) => void;
  #reject!: (error: Error) => void;
  #done = false;
  #failure: Error | undefined;
  /**
   * pg wraps this when the connection has a `query_timeout`: its wrapper clears the timer, so it
   * must be called when the copy ends (else the timer, and through it every value, lives on
   * until it fires). pg's timer calls it, and `handleError`, if no answer came in time.
   */
  callback: ((error: Error | null) => void) | undefined = (error) => {
    if (error) this.#fail(error);
  };

  constructor(text: string) {
    this.#text = text;
    this.#settled = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** The values, in the order the SELECT gave them; rejects with the backend's or pg's error. */
  get result(): Promise<Pieces[]> {
    return this.#settled;
  }

  submit(connection: pg.Connection): void {
    // The tap lets go of the socket by itself, at the first message after the data.
    new CopyDataTap(connection.stream, (piece) => this.#push(piece, false));
    connection.query(this.#text);
  }

  /** CopyData that reached pg's parser (after a notice, say): a view of pg's reused buffer. */
  handleCopyData(message: { chunk: Buffer }): void {
    this.#push(message.chunk, true);
  }

  handleReadyForQuery(): void {
    if (this.#failure !== undefined) this.#fail(this.#failure);
    else if (!this.#parser.finished) this.#fail(new Error("binary COPY ended without trailer"));
    else this.#settle(this.#parser.values);
  }

  handleError(error: Error): void {
    this.#fail(error);
  }

  // The rest of pg's submittable protocol: messages a COPY TO never produces but pg may route.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: pg.Connection & { sendCopyFail(m: string): void }): void {
    connection.sendCopyFail("not a COPY FROM");
  }

  #push(chunk: Buffer, reused: boolean): void {
    if (this.#failure !== undefined) return;
    try {
      this.#parser.push(chunk, reused);
    } catch (error) {
      // Wait for ReadyForQuery (the connection stays usable), then fail.
      this.#failure = error instanceof Error ? error : new Error(String(error));
    }
  }

  #settle(values: Pieces[]): void {
    if (this.#done) return;
    this.#done = true;
    this.#resolve(values);
    this.callback?.(null);
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#reject(error);
    this.callback?.(error);
  }
}

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/**
 * The binary COPY format (PostgreSQL docs, "COPY", Binary Format), for rows of one column: an
 * 11-byte signature, int32 flags, int32 extension length and the extension; then per row an
 * int16 field count, an int32 length and the bytes; an int16 -1 ends it. Fed in whatever pieces
 * the CopyData messages bring. A value is kept as views of the input pieces it came in, or as
 * copies of them when the input buffer is `reused` by its owner afterwards.
 */
export class BinaryCopyParser {
  readonly values: Pieces[] = [];
  finished = false;
  /** Fixed-size fields being assembled (header, counts, lengths). */
  #small = Buffer.alloc(19);
  #smallFilled = 0;
  #state: "header" | "extension" | "count" | "length" | "value" = "header";
  #extensionLeft = 0;
  #value: Buffer[] = [];
  #valueLeft = 0;

  push(chunk: Buffer, reused = true): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.finished) throw new Error("binary COPY data after its trailer");
      switch (this.#state) {
        case "header": {
          offset = this.#fill(chunk, offset, 19);
          if (this.#smallFilled < 19) break;
          if (!this.#small.subarray(0, 11).equals(SIGNATURE)) {
            throw new Error("not a binary COPY signature");
          }
          this.#extensionLeft = this.#small.readUInt32BE(15);
          this.#smallFilled = 0;
          this.#state = this.#extensionLeft > 0 ? "extension" : "count";
          break;
        }
        case "extension": {
          const skip = Math.min(this.#extensionLeft, chunk.length - offset);
          offset += skip;
          this.#extensionLeft -= skip;
          if (this.#extensionLeft === 0) this.#state = "count";
          break;
        }
        case "count": {
          offset = this.#fill(chunk, offset, 2);
          if (this.#smallFilled < 2) break;
          const fields = this.#small.readInt16BE(0);
          this.#smallFilled = 0;
          if (fields === -1) {
            this.finished = true;
            if (offset < chunk.length) throw new Error("binary COPY data after its trailer");
            break;
          }
          if (fields !== 1) throw new Error(`binary COPY row of ${fields} fields, expected 1`);
          this.#state = "length";
          break;
        }
        case "length": {
          offset = this.#fill(chunk, offset, 4);
          if (this.#smallFilled < 4) break;
          const length = this.#small.readInt32BE(0);
          this.#smallFilled = 0;
          if (length < 0) throw new Error("binary COPY value is NULL");
          this.#value = [];
          this.#valueLeft = length;
          this.#state = "value";
          if (length === 0) this.#endValue();
          break;
        }
        case "value": {
          const take = Math.min(this.#valueLeft, chunk.length - offset);
          const piece = chunk.subarray(offset, offset + take);
          this.#value.push(reused ? Buffer.from(piece) : piece);
          this.#valueLeft -= take;
          offset += take;
          if (this.#valueLeft === 0) this.#endValue();
          break;
        }
      }
    }
  }

  #endValue(): void {
    this.values.push(this.#value);
    this.#value = [];
    this.#state = "count";
  }

  /** Copies up to `want - filled` bytes into #small; returns the new offset. */
  #fill(chunk: Buffer, offset: number, want: number): number {
    const take = Math.min(want - this.#smallFilled, chunk.length - offset);
    chunk.copy(this.#small, this.#smallFilled, offset, offset + take);
    this.#smallFilled += take;
    return offset + take;
  }
}
