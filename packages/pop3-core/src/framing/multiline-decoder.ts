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

/** What the previous push left undecided. */
enum Pending {
  Nothing,
  /** A `.` opened a line at the end of the last chunk; it has been stripped. */
  Dot,
  /** A `.` CR opened a line at the end of the last chunk; the CR has not been emitted. */
  DotCr,
  Done,
}

/**
 * Incremental decoder of one multi-line response body (RFC 1939 §3): finds the terminating
 * `CRLF . CRLF` wherever the chunk boundaries fall, strips the stuffed leading dots, and gives the
 * body back as bytes (views of the input, never text).
 *
 * It hops from one `.` to the next with the native `indexOf` and looks back two bytes to see
 * whether the dot opens a line. Dots are rarer than line ends, and absent from base64 attachments,
 * which make up most of the bytes of large mail; so most of a body is passed on without a look.
 */
export class MultilineDecoder {
  readonly #maxSize: number;
  readonly #lenient: boolean;
  #pending: Pending = Pending.Nothing;
  // The last two bytes seen. The body starts right after the CRLF of the status line.
  #last = LF;
  #beforeLast = CR;
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
    return this.#pending === Pending.Done;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.#pending === Pending.Done) return { data: [], done: true, rest: chunk };
    const length = chunk.length;
    if (length === 0) return { data: [], done: false, rest: EMPTY };
    const data: Uint8Array[] = [];
    const emit = (from: number, to: number): void => {
      if (to > from) this.#emit(data, chunk.subarray(from, to));
    };
    const finish = (restStart: number): DecodeResult => {
      this.#pending = Pending.Done;
      return { data, done: true, rest: chunk.subarray(restStart) };
    };

    let segmentStart = 0;
    let from = 0;
    if (this.#pending === Pending.DotCr) {
      this.#pending = Pending.Nothing;
      if (chunk[0] === LF) return finish(1);
      // `.` CR then something else: the dot was stuffing and the CR is content.
      this.#emit(data, CR_ONLY);
    } else if (this.#pending === Pending.Dot) {
      this.#pending = Pending.Nothing;
      const next = this.#afterLineStartDot(chunk, 0);
      if (next === "done-crlf") return finish(2);
      if (next === "done-lf") return finish(1);
      if (next === "need-more") {
        this.#pending = Pending.DotCr;
        this.#remember(chunk);
        return { data, done: false, rest: EMPTY };
      }
    }

    for (;;) {
      const dot = chunk.indexOf(DOT, from);
      if (dot === -1) break;
      from = dot + 1;
      if (!this.#opensLine(chunk, dot)) continue;
      emit(segmentStart, dot);
      segmentStart = dot + 1;
      const next = this.#afterLineStartDot(chunk, dot + 1);
      if (next === "done-crlf") return finish(dot + 3);
      if (next === "done-lf") return finish(dot + 2);
      if (next === "need-more") {
        this.#pending = dot + 1 === length ? Pending.Dot : Pending.DotCr;
        this.#remember(chunk);
        return { data, done: false, rest: EMPTY };
      }
    }
    emit(segmentStart, length);
    this.#remember(chunk);
    return { data, done: false, rest: EMPTY };
  }

  /** Whether the byte at `index` is the first of a line, looking back into the last chunk if needed. */
  #opensLine(chunk: Uint8Array, index: number): boolean {
    const last = index >= 1 ? chunk[index - 1] : this.#last;
    if (last !== LF) return false;
    if (this.#lenient) return true;
    const beforeLast = index >= 2 ? chunk[index - 2] : index === 1 ? this.#last : this.#beforeLast;
    return beforeLast === CR;
  }

  /** Reads what follows a dot that opens a line: the terminator, content, or the chunk's end. */
  #afterLineStartDot(
    chunk: Uint8Array,
    index: number,
  ): "done-crlf" | "done-lf" | "content" | "need-more" {
    if (index >= chunk.length) return "need-more";
    const byte = chunk[index];
    if (byte === LF && this.#lenient) return "done-lf";
    if (byte !== CR) return "content";
    if (index + 1 >= chunk.length) return "need-more";
    return chunk[index + 1] === LF ? "done-crlf" : "content";
  }

  #remember(chunk: Uint8Array): void {
    const length = chunk.length;
    this.#beforeLast = length >= 2 ? (chunk[length - 2] as number) : this.#last;
    this.#last = chunk[length - 1] as number;
  }

  #emit(data: Uint8Array[], piece: Uint8Array): void {
    this.#size += piece.length;
    if (this.#size > this.#maxSize) {
      throw new RemoteProtocolError(
        "POP3_MESSAGE_TOO_LARGE",
        `multi-line response exceeds the limit of ${this.#maxSize} octets`,
      );
    }
    data.push(piece);
  }
}
