import { CR, concatBytes, DOT, LF } from "../bytes";
import { LineBreakScanner } from "./line-break-scanner";

const TERMINATOR = Uint8Array.of(DOT, CR, LF);
const CRLF_TERMINATOR = Uint8Array.of(CR, LF, DOT, CR, LF);

/**
 * Incremental encoder of a multi-line response body (RFC 1939 §3). Turns message bytes, in chunks
 * cut anywhere, into wire bytes: bare LF and bare CR become CRLF, a line that starts with `.` gets
 * one more, and `end()` adds the missing final CRLF and the `.CRLF` terminator.
 *
 * Ordinary mail (CRLF lines, no leading dots) passes through without a copy: `push` returns the
 * chunk itself. The bytes are never decoded.
 */
export class MultilineEncoder {
  #atLineStart = true;
  /** The previous chunk ended in CR, already sent as CRLF: an LF that follows is that line end. */
  #skipLf = false;
  #empty = true;
  #dotsStuffed = 0;
  /** Octets returned by `push` so far, stuffing dots included. */
  #encoded = 0;
  #ended = false;

  /** Dots added so far; the RFC size of the message is the encoded size without them. */
  get dotsStuffed(): number {
    return this.#dotsStuffed;
  }

  /**
   * The RFC 1939 size of the body pushed so far, as if it ended now: CRLF line ends, the final
   * CRLF that `end()` would add included, the stuffing dots not. A sender compares it with the
   * size it announced, so a message that changed on disk is never passed off as complete.
   */
  get octets(): number {
    const finalLineEnd = this.#empty || this.#atLineStart ? 0 : 2;
    return this.#encoded - this.#dotsStuffed + finalLineEnd;
  }

  push(chunk: Uint8Array): Uint8Array {
    const length = chunk.length;
    if (length === 0) return chunk;
    this.#empty = false;
    // Made at the first byte added: ordinary mail needs none.
    let out: ChunkWriter | undefined;
    let segmentStart = 0;
    let pos = 0;
    if (this.#skipLf) {
      this.#skipLf = false;
      if (chunk[0] === LF) {
        segmentStart = 1;
        pos = 1;
      }
    }
    let atLineStart = this.#atLineStart;
    const scanner = new LineBreakScanner(chunk);

    while (pos < length) {
      if (atLineStart) {
        atLineStart = false;
        if (chunk[pos] === DOT) {
          out ??= new ChunkWriter(length);
          out.copy(chunk, segmentStart, pos);
          out.add(DOT);
          segmentStart = pos;
          this.#dotsStuffed += 1;
        }
      }
      // CRLF lines without a leading dot are passed over: ordinary mail needs no call but this.
      const unusual = scanner.nextUnusual(pos);
      if (unusual === -1) {
        atLineStart = length - pos >= 2 && chunk[length - 2] === CR && chunk[length - 1] === LF;
        break;
      }
      const byte = chunk[unusual];
      if (byte === DOT) {
        // A dot after a CRLF: stuffed at the top of the loop.
        pos = unusual;
        atLineStart = true;
        continue;
      }
      out ??= new ChunkWriter(length);
      if (byte === CR) {
        // A CR not followed by LF gets one. As the last byte, its LF may open the next chunk:
        // CRLF is sent now and that LF swallowed.
        out.copy(chunk, segmentStart, unusual + 1);
        out.add(LF);
        segmentStart = unusual + 1;
        pos = unusual + 1;
        if (pos === length) this.#skipLf = true;
      } else {
        // A bare LF: put a CR in front of it.
        out.copy(chunk, segmentStart, unusual);
        out.add(CR);
        segmentStart = unusual;
        pos = unusual + 1;
      }
      atLineStart = true;
    }
    this.#atLineStart = atLineStart;

    let encoded: Uint8Array;
    if (out === undefined) {
      encoded = segmentStart === 0 ? chunk : chunk.subarray(segmentStart);
    } else {
      out.copy(chunk, segmentStart, length);
      encoded = out.bytes();
    }
    this.#encoded += encoded.length;
    return encoded;
  }

  /** The final bytes: CRLF if the body did not end with a line end, then `.CRLF`. */
  end(): Uint8Array {
    if (this.#ended) return new Uint8Array(0);
    this.#ended = true;
    return this.#empty || this.#atLineStart ? TERMINATOR : CRLF_TERMINATOR;
  }
}

/**
 * The encoding of one chunk that needed changes, written into one buffer. Hostile mail can need a
 * change on every byte (a bare LF per byte, a line of one dot per three): each change is one byte
 * written, not a slice object, so such a chunk costs about what ordinary mail does. No byte ever
 * becomes more than two, which bounds the buffer at twice the chunk.
 */
class ChunkWriter {
  #buffer: Uint8Array;
  #written = 0;
  readonly #chunkLength: number;

  constructor(chunkLength: number) {
    this.#chunkLength = chunkLength;
    // Room for a change per 32 bytes (ordinary mail has a stuffed dot per few lines at most);
    // denser input grows the buffer once, to the bound.
    this.#buffer = new Uint8Array(chunkLength + (chunkLength >>> 5) + 16);
  }

  copy(source: Uint8Array, from: number, to: number): void {
    const count = to - from;
    this.#reserve(count);
    const buffer = this.#buffer;
    let at = this.#written;
    // Short runs byte by byte: a subarray for each would cost more than the copy.
    if (count > 64) {
      buffer.set(source.subarray(from, to), at);
      at += count;
    } else {
      for (let i = from; i < to; i += 1) buffer[at++] = source[i] as number;
    }
    this.#written = at;
  }

  add(byte: number): void {
    this.#reserve(1);
    this.#buffer[this.#written++] = byte;
  }

  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#written);
  }

  #reserve(count: number): void {
    if (this.#written + count <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(2 * this.#chunkLength, this.#written + count));
    grown.set(this.#buffer.subarray(0, this.#written));
    this.#buffer = grown;
  }
}

/** Encodes a whole body in one call: stuffed, normalised, and terminated. */
export function encodeMultiline(body: Uint8Array): Uint8Array {
  const encoder = new MultilineEncoder();
  const head = encoder.push(body);
  const tail = encoder.end();
  return concatBytes([head, tail]);
}

/**
 * Counts the RFC 1939 size of a message streamed in chunks: octets with CRLF line ends, the final
 * CRLF included, the stuffing dots not. This is the number STAT, LIST and `+OK n octets` report.
 */
export class OctetSizeCounter {
  readonly #encoder = new MultilineEncoder();

  push(chunk: Uint8Array): void {
    this.#encoder.push(chunk);
  }

  /** The size, once every chunk has been pushed. */
  end(): number {
    return this.#encoder.octets;
  }
}

/** The RFC 1939 size of a whole message (see `OctetSizeCounter`). */
export function rfcOctetSize(message: Uint8Array): number {
  const counter = new OctetSizeCounter();
  counter.push(message);
  return counter.end();
}
