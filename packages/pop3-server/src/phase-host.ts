import type { StatusReply } from "pop3-core";
import type { ServerContext } from "./context";

/**
 * What a phase may do to its connection: the whole interface between `Connection` (the stream,
 * the outbox, the timers) and the phases (`AuthorizationPhase`, `TransactionPhase`), which know
 * POP3 commands but never see the stream. A test drives a phase with a host of its own, in memory.
 *
 * Every answer goes through core's `ServerSession`, which checks it fits the command being
 * answered. STLS needs no call here: once a phase has answered `+OK` to it, core is in
 * `TLS_HANDSHAKE` and the connection starts TLS when the answer is out.
 */
export interface PhaseHost {
  /** For logs. */
  readonly id: number;
  /** The client's address (the PROXY header's source when there is one). */
  readonly remoteAddress: string;
  /** What every connection of the server shares: options, counters, throttles, hash pool. */
  readonly context: ServerContext;
  /** TLS protects the connection now (implicit, or after STLS). */
  readonly tls: boolean;
  /** The connection is closed: nothing more reaches the client. */
  readonly closed: boolean;
  /** Aborts once the connection is closed and its maildrop released: stop waiting for it. */
  readonly closedSignal: AbortSignal;

  /** A single-line answer. */
  reply(reply: StatusReply): void;
  /**
   * A multi-line answer of text lines. A long one goes out in slices, each waiting for the
   * client to read the one before: then a promise, which the phase returns as its pending work.
   */
  replyLines(reply: StatusReply, lines: readonly string[]): Promise<void> | undefined;
  /** A SASL challenge (`+ base64`) to the pending AUTH. */
  challenge(bytes: Uint8Array): void;
  /**
   * A multi-line answer streamed from `source` (RETR, TOP); `take` may cut each chunk and says
   * when to stop; `octets`, the size announced, is checked before the answer is ended. Resolves
   * `false` when the answer could not be completed (client gone, size mismatch: connection cut).
   */
  sendBody(
    reply: StatusReply,
    source: AsyncIterable<Uint8Array>,
    take?: BodyFilter,
    octets?: number,
  ): Promise<boolean>;
  /**
   * `sendBody` for a body that is already whole in memory (a small message read at once): the
   * same checks, no stream to wait on. Returns `false` when the answer could not be completed.
   */
  sendWholeBody(reply: StatusReply, body: Uint8Array, take?: BodyFilter, octets?: number): boolean;
  /** Sends what is queued and closes the connection (after QUIT, too many failures). */
  end(): void;
  /** Closes the connection with a last unsolicited line (a limit was reached). */
  closeWith(reply: StatusReply): void;
  /** Ends the session now without UPDATE, the client told why if it can be (stream failure). */
  terminate(reply: StatusReply): void;
  /** Counts a refused or unknown command; too many of them close the connection. */
  countBadCommand(): void;
}

/** Cuts a message body as it streams (TOP's `TopFilter`). */
export interface BodyFilter {
  push(chunk: Uint8Array): Uint8Array;
  readonly done: boolean;
}
