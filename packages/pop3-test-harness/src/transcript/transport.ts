import type { Transcript } from "./types";

/** Where a connection delivers what the server sends. */
export interface ConnectionSink {
  /** Bytes from the server, in order. */
  data(chunk: Uint8Array): void;
  /** The server closed the connection, or it failed (`error`). Later calls are ignored. */
  end(error?: Error): void;
}

/** One client connection of a transport. */
export interface TranscriptConnection {
  /** Sends bytes to the server as one write. */
  write(bytes: Uint8Array): void;
  /** Performs the TLS handshake after `+OK` to STLS; data keeps flowing to the same sink. */
  startTls(): Promise<void>;
  /** The client closes its side (`close` directive). */
  close(): void;
  /** Tears the connection down at once (end of run, or after a failure). */
  destroy(): void;
}

/**
 * What `runTranscript` talks to: pop3-server over an in-memory stream (`createMemoryTransport`)
 * or any server on a host and port (`createSocketTransport`). Both see only bytes; all framing
 * and matching is the runner's.
 */
export interface TranscriptTransport {
  /** For reports, e.g. `memory` or `127.0.0.1:1100`. */
  readonly name: string;
  /** Called once per run before any connection: set up users and messages from the header. */
  prepare?(transcript: Transcript): void | Promise<void>;
  /** Opens a connection for `session` (its label); rejects when that is impossible. */
  connect(session: string, sink: ConnectionSink): Promise<TranscriptConnection>;
}
