import { Duplex } from "node:stream";

/**
 * Two connected in-memory streams, like the two ends of a TCP connection without the kernel:
 * what one writes the other reads, a turn of the event loop later; a full reader holds the
 * writer back; ending one side ends the other's reading (no half-open connections, as a net
 * server socket), and destroying one destroys the other. Node 20 has no `stream.duplexPair`; the transcript runner's in-memory transport plays on one.
 */
export function memoryPair(): [MemoryEnd, MemoryEnd] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.connect(b);
  b.connect(a);
  return [a, b];
}

export class MemoryEnd extends Duplex {
  #peer: MemoryEnd | undefined;
  /** A write waiting for the peer to read some of its buffer. */
  #blocked: (() => void) | undefined;

  constructor() {
    super({ allowHalfOpen: false });
  }

  connect(peer: MemoryEnd): void {
    this.#peer = peer;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    const peer = this.#peer as MemoryEnd;
    setImmediate(() => {
      if (peer.destroyed) done();
      else if (peer.push(chunk)) done();
      else peer.#blocked = done;
    });
  }

  override _read(): void {
    const blocked = this.#blocked;
    this.#blocked = undefined;
    blocked?.();
  }

  override _final(done: (error?: Error) => void): void {
    const peer = this.#peer as MemoryEnd;
    setImmediate(() => {
      if (!peer.destroyed) peer.push(null);
      done();
    });
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const peer = this.#peer as MemoryEnd;
    setImmediate(() => peer.destroy());
    done(error);
  }
}
