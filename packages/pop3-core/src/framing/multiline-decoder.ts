import { CR, DOT, EMPTY, LF } from "../bytes";
import { RemoteProtocolError } from "../errors";

export interface MultilineDecoderOptions {
  /** Largest body accepted, in octets after unstuffing. Default: no limit. */
  readonly maxSize?: number;
  /**
   * Also treat a bare LF as a line end, so `LF . LF` ends the response and `LF ..` is unstuffed.
   * For peers that do not send CRLF. Off by default: RFC 1939 lines end in CRLF, and a bare LF inside
   * a message body is then just a byte of the message.
   */
  readonly lenientLineEnds?: boolean;
}

export interface DecodeResult {
  /** Unstuffed body bytes, in order. Views into the pushed chunk where possible: copy to keep. */
  readonly data: Uint8Array[];
  /** True when the terminating `.CRLF` line has been read. */
  readonly done: boolean;
  /** Bytes after the terminator (the next response, when pipelining). Empty unless `done`. */
  readonly rest: Uint8Array;
}

const CR_ONLY = Uint8Array.of(CR);

/** Where the decoder stands between two pushes. */
const enum At {
  /** Right after a line end (or at the very start of the body). */
  LineStart,
  /** Inside a line. */
  InLine,
  /** After a `.` at the start of a line; the dot has been stripped. */
  Dot,
  /** After `.` CR at the start of a line; the CR has not been emitted yet. */
  DotCr,
  Done,
}

/**
 * Incremental decoder of one multi-line response body (RFC 1939 §3): finds the terminating
 * `CRLF . CRLF` wherever the chunk boundaries fall, strips the stuffed leading dots, and gives the
 * body back as bytes, never as text. Work per chunk is one native `indexOf` per line.
 */
export class MultilineDecoder {
  readonly #maxSize: number;
  readonly #lenient: boolean;
  #at: At = At.LineStart;
  #lastWasCr = false;
  #size = 0;

  constructor(options: MultilineDecoderOptions = {}) {
    this.#maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
    this.#lenient = options.lenientLineEnds ?? false;
  }

  /** Octets of body produced so far. */
  get size(): number {
    return this.#size;
  }

  get done(): boolean {
    return this.#at === At.Done;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.#at === At.Done) return { data: [], done: true, rest: chunk };
    if (chunk.length === 0) return { data: [], done: false, rest: EMPTY };
    const data: Uint8Array[] = [];
    const emit = (part: Uint8Array): void => {
      if (part.length === 0) return;
      this.#size += part.length;
      if (this.#size > this.#maxSize) {
        throw new RemoteProtocolError(
          "POP3_MESSAGE_TOO_LARGE",
          `multi-line response exceeds the limit of ${this.#maxSize} octets`,
        );
      }
      data.push(part);
    };
    const finish = (end: number): DecodeResult => {
      this.#at = At.Done;
      return { data, done: true, rest: chunk.subarray(end) };
    };

    const length = chunk.length;
    let pos = 0;
    let segmentStart = 0;
    let at = this.#at;

    while (pos < length) {
      const byte = chunk[pos] as number;
      if (at === At.LineStart) {
        if (byte === DOT) {
          emit(chunk.subarray(segmentStart, pos));
          pos += 1;
          segmentStart = pos;
          at = At.Dot;
        } else {
          at = At.InLine;
        }
        continue;
      }
      if (at === At.Dot) {
        if (byte === CR) {
          at = At.DotCr;
          pos += 1;
        } else if (byte === LF && this.#lenient) {
          return finish(pos + 1);
        } else {
          at = At.InLine;
        }
        continue;
      }
      if (at === At.DotCr) {
        if (byte === LF) return finish(pos + 1);
        // `.` CR followed by something else: the dot was stuffing, the CR is content.
        if (pos === 0) emit(CR_ONLY);
        at = At.InLine;
        continue;
      }
      // At.InLine: jump to the next LF.
      const lf = chunk.indexOf(LF, pos);
      if (lf === -1) break;
      const crBefore = lf > 0 ? chunk[lf - 1] === CR : this.#lastWasCr;
      if (crBefore || this.#lenient) at = At.LineStart;
      pos = lf + 1;
    }

    // A `.` CR at the very end: hold the CR back until we know whether LF follows.
    emit(chunk.subarray(segmentStart, at === At.DotCr ? length - 1 : length));
    this.#lastWasCr = chunk[length - 1] === CR;
    this.#at = at;
    return { data, done: false, rest: EMPTY };
  }
}
