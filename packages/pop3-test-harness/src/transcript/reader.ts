import { LINE_TOO_LONG, LineReader, MultilineDecoder } from "pop3-core";
import type { ConnectionSink } from "./transport";

/** Longest status line the runner accepts (CRLF included); POP3 allows 512, servers exceed it. */
export const STATUS_LINE_LIMIT = 64 * 1024;
/** Longest body line the runner accepts. */
export const BODY_LINE_LIMIT = 16 * 1024 * 1024;

export type ReadResult =
  | { readonly type: "line"; readonly bytes: Uint8Array }
  | { readonly type: "too-long"; readonly limit: number }
  /** The terminating `.` of a multi-line body (only from `readBodyLine`). */
  | { readonly type: "end" }
  | { readonly type: "closed"; readonly error: Error | undefined; readonly partial: Uint8Array }
  | { readonly type: "timeout"; readonly partial: Uint8Array };

interface Body {
  readonly decoder: MultilineDecoder;
  readonly lines: LineReader;
}

/**
 * What one session received, framed by pop3-core: status lines with a `LineReader`, multi-line
 * bodies with a `MultilineDecoder` (dot-unstuffing, `CRLF.CRLF`), whose output a second
 * `LineReader` cuts into lines. Bytes are queued as they arrive and framed only when the runner
 * asks, because only the transcript knows whether a body follows a status line.
 */
export class SessionReader {
  readonly #incoming: Uint8Array[] = [];
  readonly #lines = new LineReader(STATUS_LINE_LIMIT);
  #body: Body | undefined;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  readonly sink: ConnectionSink = {
    data: (chunk) => {
      if (this.#ended || chunk.length === 0) return;
      this.#incoming.push(chunk.slice());
      this.#wake?.();
    },
    end: (error) => {
      if (this.#ended) return;
      this.#ended = true;
      this.#error = error;
      this.#wake?.();
    },
  };

  /** The next status line. */
  async readLine(timeoutMs: number): Promise<ReadResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#frame();
      const line = this.#lines.readLine();
      if (line === LINE_TOO_LONG) return { type: "too-long", limit: STATUS_LINE_LIMIT };
      if (line !== undefined) return { type: "line", bytes: line };
      if (this.#ended) return this.#closed(this.#lines.takeRest());
      if (!(await this.#wait(deadline))) {
        return { type: "timeout", partial: this.#lines.takeRest() };
      }
    }
  }

  /** Call after the status line of a multi-line answer: what follows is its body. */
  startBody(): void {
    const rest = this.#lines.takeRest();
    this.#body = { decoder: new MultilineDecoder(), lines: new LineReader(BODY_LINE_LIMIT) };
    if (rest.length > 0) this.#incoming.unshift(rest);
  }

  /** The next body line (unstuffed), or `end` at the terminating `.`. */
  async readBodyLine(timeoutMs: number): Promise<ReadResult> {
    const body = this.#body;
    if (body === undefined) throw new Error("readBodyLine: no multi-line answer is being read");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#frame();
      const line = body.lines.readLine();
      if (line === LINE_TOO_LONG) return { type: "too-long", limit: BODY_LINE_LIMIT };
      if (line !== undefined) return { type: "line", bytes: line };
      if (body.decoder.done) {
        // A decoded body ends with CRLF; a remainder would be a last line without one.
        const partial = body.lines.takeRest();
        return partial.length > 0 ? { type: "line", bytes: partial } : { type: "end" };
      }
      if (this.#ended) return this.#closed(body.lines.takeRest());
      if (!(await this.#wait(deadline))) {
        return { type: "timeout", partial: body.lines.takeRest() };
      }
    }
  }

  /** Call once the body's end has been read. */
  endBody(): void {
    this.#body = undefined;
  }

  /**
   * Waits for the server to close. Resolves `closed` when it did with nothing more sent, `line`
   * (possibly without a line end) when it sent something, or `timeout`.
   */
  async awaitClose(timeoutMs: number): Promise<ReadResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.#frame();
      if (this.#lines.buffered > 0) {
        const line = this.#lines.readLine();
        return { type: "line", bytes: line instanceof Uint8Array ? line : this.#lines.takeRest() };
      }
      if (this.#ended) return this.#closed(new Uint8Array(0));
      if (!(await this.#wait(deadline))) return { type: "timeout", partial: new Uint8Array(0) };
    }
  }

  /** Removes and returns whatever was received and not read yet. */
  takeUnread(): Uint8Array {
    this.#frame();
    return this.#lines.takeRest();
  }

  /** The client closed the connection: whatever arrives from now on is ignored. */
  stop(): void {
    this.#ended = true;
    this.#incoming.length = 0;
  }

  #closed(partial: Uint8Array): ReadResult {
    return { type: "closed", error: this.#error, partial };
  }

  /** Moves queued bytes into the body decoder while a body is open, else into the line reader. */
  #frame(): void {
    for (let chunk = this.#incoming.shift(); chunk !== undefined; chunk = this.#incoming.shift()) {
      const body = this.#body;
      if (body === undefined || body.decoder.done) {
        this.#lines.push(chunk);
        continue;
      }
      const result = body.decoder.push(chunk);
      for (const piece of result.data) body.lines.push(piece);
      if (result.done) this.#lines.push(result.rest);
    }
  }

  /** True when bytes or the end arrived before `deadline`. */
  #wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, left);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }
}
