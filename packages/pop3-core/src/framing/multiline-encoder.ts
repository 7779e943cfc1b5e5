import { CR, concatBytes, DOT, LF } from "../bytes";
import { LineBreakScanner } from "./line-break-scanner";

const DOT_ONLY = Uint8Array.of(DOT);
const CR_ONLY = Uint8Array.of(CR);
const LF_ONLY = Uint8Array.of(LF);
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
    // Allocated only when something is added or dropped: ordinary mail needs none.
    let parts: Uint8Array[] | undefined;
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
          parts ??= [];
          parts.push(chunk.subarray(segmentStart, pos), DOT_ONLY);
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
      parts ??= [];
      if (byte === CR) {
        if (unusual + 1 === length) {
          // CR as the last byte: send CRLF now and swallow an LF that may open the next chunk.
          parts.push(chunk.subarray(segmentStart, length), LF_ONLY);
          segmentStart = length;
          this.#skipLf = true;
          pos = length;
        } else {
          // A CR followed by something other than LF.
          parts.push(chunk.subarray(segmentStart, unusual + 1), LF_ONLY);
          segmentStart = unusual + 1;
          pos = unusual + 1;
        }
      } else {
        // A bare LF: put a CR in front of it.
        parts.push(chunk.subarray(segmentStart, unusual), CR_ONLY);
        segmentStart = unusual;
        pos = unusual + 1;
      }
      atLineStart = true;
    }
    this.#atLineStart = atLineStart;

    let out: Uint8Array;
    if (parts === undefined) {
      out = segmentStart === 0 ? chunk : chunk.subarray(segmentStart);
    } else {
      parts.push(chunk.subarray(segmentStart, length));
      out = concatBytes(parts);
    }
    this.#encoded += out.length;
    return out;
  }

  /** The final bytes: CRLF if the body did not end with a line end, then `.CRLF`. */
  end(): Uint8Array {
    if (this.#ended) return new Uint8Array(0);
    this.#ended = true;
    return this.#empty || this.#atLineStart ? TERMINATOR : CRLF_TERMINATOR;
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
