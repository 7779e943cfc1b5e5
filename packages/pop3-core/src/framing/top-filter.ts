import { CR, EMPTY, LF } from "../bytes";

/**
 * Cuts a message stream for `TOP msg n` (RFC 1939 §7): the header, the blank line after it, and
 * the first `n` lines of the body. A body shorter than `n` lines is sent whole. Works on raw bytes
 * before dot-stuffing; a line ends at LF, or at a CR that is not followed by LF, exactly as the
 * encoder will count it.
 */
export class TopFilter {
  #bodyLinesLeft: number;
  #inHeader = true;
  #lineIsEmpty = true;
  #lastWasCr = false;
  #done = false;

  constructor(bodyLines: number) {
    this.#bodyLinesLeft = bodyLines;
  }

  /** True once everything TOP sends has been passed; the caller can stop reading the message. */
  get done(): boolean {
    return this.#done;
  }

  /** The part of `chunk` that belongs to the TOP answer (a view, not a copy). */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#done) return EMPTY;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      const lfOfCrlf = byte === LF && this.#lastWasCr;
      if (this.#finished() && !lfOfCrlf) {
        this.#done = true;
        return chunk.subarray(0, i);
      }
      this.#lastWasCr = byte === CR;
      if (lfOfCrlf) continue;
      if (byte !== CR && byte !== LF) {
        this.#lineIsEmpty = false;
        continue;
      }
      if (this.#inHeader) {
        if (this.#lineIsEmpty) this.#inHeader = false;
      } else {
        this.#bodyLinesLeft -= 1;
      }
      this.#lineIsEmpty = true;
    }
    // Only a pending LF of a CRLF could still belong to the answer.
    if (this.#finished() && !this.#lastWasCr) this.#done = true;
    return chunk;
  }

  #finished(): boolean {
    return !this.#inHeader && this.#bodyLinesLeft <= 0;
  }
}
