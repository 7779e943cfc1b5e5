import { CR, DOT, LF } from "../bytes";

// "Has a byte below 0x0e" for four bytes at once (Bit Twiddling Hacks, `hasless(x, n)`): exact as
// a yes/no for n <= 128, though it may not say which byte it was, so a hit is checked byte by byte.
const BELOW_CR_PLUS_ONE = 0x0e0e0e0e;
const HIGH_BITS = 0x80808080;
const NO_WORDS = new Uint32Array(0);

/**
 * Finds, in one chunk of a message, the places where a multi-line encoder has work to do: a CR or
 * LF that is not half of a CRLF, and a dot that opens a line. Everything else — ordinary text in
 * CRLF lines — is passed over, four bytes at a time.
 *
 * Mail is nearly all bytes above CR (0x0d), so a 32-bit word whose four bytes are all above it is
 * passed over with one test. A word that has a lower byte — CR, LF, or a TAB or other control
 * byte — is looked at byte by byte. On mail's ~80-byte lines this is several times faster than
 * `indexOf`, whose cost per call exceeds the cost of scanning the line itself.
 */
export class LineBreakScanner {
  readonly #bytes: Uint8Array;
  readonly #words: Uint32Array;
  /** Index in `bytes` of `words[0]`: the first byte on a four-byte boundary of the buffer. */
  readonly #wordsStart: number;
  readonly #wordsEnd: number;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    const length = bytes.length;
    const wordsStart = Math.min((4 - (bytes.byteOffset & 3)) & 3, length);
    const wordCount = (length - wordsStart) >>> 2;
    this.#words =
      wordCount === 0
        ? NO_WORDS
        : new Uint32Array(bytes.buffer, bytes.byteOffset + wordsStart, wordCount);
    this.#wordsStart = wordsStart;
    this.#wordsEnd = wordsStart + wordCount * 4;
  }

  /**
   * The index of the first byte at or after `from` that is a CR not followed by LF in this chunk
   * (a CR as the last byte included), an LF not preceded by CR at or after `from`, or a dot right
   * after a CRLF that starts at or after `from`; -1 if there is none. `from` must not fall between
   * the CR and the LF of a pair.
   */
  nextUnusual(from: number): number {
    const bytes = this.#bytes;
    const length = bytes.length;
    const words = this.#words;
    const wordCount = words.length;
    const wordsStart = this.#wordsStart;
    const wordsEnd = this.#wordsEnd;
    // Module constants copied into locals: bundlers emit them as `var`, which the JIT loads from
    // the module's context on every use instead of folding them (measured: a third slower).
    const cr = CR;
    const lf = LF;
    const dot = DOT;
    const belowCrPlusOne = BELOW_CR_PLUS_ONE;
    const highBits = HIGH_BITS;
    let i = from;
    for (;;) {
      // Find the next CR or LF: bytes one by one up to a word boundary (and through the unaligned
      // head and tail), then whole words.
      let byte = 0;
      for (;;) {
        if (i >= length) return -1;
        if (i >= wordsStart && i < wordsEnd && ((i - wordsStart) & 3) === 0) {
          let word = (i - wordsStart) >>> 2;
          while (word < wordCount) {
            const value = words[word] as number;
            if (((value - belowCrPlusOne) & ~value & highBits) !== 0) break;
            word += 1;
          }
          i = wordsStart + word * 4;
          // The word with a low byte, or past the last word the tail: which byte, if any.
          const stop = Math.min(i + 4, length);
          while (i < stop) {
            byte = bytes[i] as number;
            if (byte === cr || byte === lf) break;
            i += 1;
          }
          if (i < stop) break;
          continue;
        }
        byte = bytes[i] as number;
        if (byte === cr || byte === lf) break;
        i += 1;
      }
      if (byte === lf || i + 1 === length || bytes[i + 1] !== lf) return i;
      // A CRLF: the encoder's business only if a dot opens the next line.
      if (i + 2 < length && bytes[i + 2] === dot) return i + 2;
      i += 2;
    }
  }
}
