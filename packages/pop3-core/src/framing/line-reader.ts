import { CR, EMPTY, LF } from "../bytes";

/** Returned by `LineReader.readLine` once for a line that went past the limit; the line is dropped. */
export const LINE_TOO_LONG: unique symbol = Symbol("LINE_TOO_LONG");

export type LineResult = Uint8Array | typeof LINE_TOO_LONG | undefined;

/**
 * Splits a byte stream into protocol lines (command and status lines, never message bodies).
 *
 * A line ends at LF; a CR right before it is removed. Accepting a bare LF is deliberate: RFC 1939
 * asks for CRLF, but servers and clients in the wild send LF alone, and treating it as a line end is
 * what Dovecot does. A line longer than `maxLineLength` octets (line end included) is reported once,
 * as soon as the limit is passed, and its remaining bytes up to the next LF are thrown away, so the
 * buffer can never grow past the limit.
 */
export class LineReader {
  readonly maxLineLength: number;
  #buffer: Uint8Array = EMPTY;
  #discarding = false;

  constructor(maxLineLength: number) {
    this.maxLineLength = maxLineLength;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#buffer.length === 0) {
      this.#buffer = chunk;
      return;
    }
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer, 0);
    joined.set(chunk, this.#buffer.length);
    this.#buffer = joined;
  }

  /** The next line without its line end, `LINE_TOO_LONG`, or `undefined` when more bytes are needed. */
  readLine(): LineResult {
    const buffer = this.#buffer;
    const lf = buffer.indexOf(LF);
    if (this.#discarding) {
      if (lf === -1) {
        this.#buffer = EMPTY;
        return undefined;
      }
      this.#discarding = false;
      this.#buffer = buffer.subarray(lf + 1);
      return this.readLine();
    }
    if (lf === -1) {
      // Without a line end yet, the line already holds every buffered byte; +1 counts the LF still to come.
      if (buffer.length + 1 > this.maxLineLength) {
        this.#discarding = true;
        this.#buffer = EMPTY;
        return LINE_TOO_LONG;
      }
      return undefined;
    }
    if (lf + 1 > this.maxLineLength) {
      this.#buffer = buffer.subarray(lf + 1);
      return LINE_TOO_LONG;
    }
    const end = lf > 0 && buffer[lf - 1] === CR ? lf - 1 : lf;
    const line = buffer.subarray(0, end);
    // Nothing left: drop the view, which would keep the whole received chunk alive for as long
    // as the connection sits idle after its last command.
    this.#buffer = lf + 1 === buffer.length ? EMPTY : buffer.subarray(lf + 1);
    return line;
  }

  /** Bytes received but not yet read as lines. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Removes and returns every unread byte (to hand them to a body decoder, or to discard them). */
  takeRest(): Uint8Array {
    const rest = this.#buffer;
    this.#buffer = EMPTY;
    this.#discarding = false;
    return rest;
  }
}
