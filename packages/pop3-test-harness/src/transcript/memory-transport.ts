import { ReferenceServer, type ReferenceServerOptions } from "./reference-server";
import type { TranscriptConnection, TranscriptTransport } from "./transport";

export interface MemoryTransportOptions {
  /** Offer STLS (default true). The handshake is simulated: no certificates, no encryption. */
  readonly stls?: boolean;
  /** Every connection starts under (simulated) TLS, like an implicit-TLS port: no STLS. */
  readonly implicitTls?: boolean;
  readonly greeting?: ReferenceServerOptions["greeting"];
  /** Play against this server instead of a fresh one built from each transcript's header. */
  readonly server?: ReferenceServer;
}

export interface MemoryTransport extends TranscriptTransport {
  /** The reference server of the current (or last) run: inspect its maildrops afterwards. */
  readonly server: ReferenceServer | undefined;
}

/**
 * Plays transcripts against the in-memory `ReferenceServer` (pop3-core's `ServerSession` and a
 * small maildrop) without sockets. Each run gets a fresh server seeded from the transcript's
 * header. Bytes cross in both directions asynchronously, one write at a time, in order, the way
 * a network delivers them; a `C>` write split over `wait`s arrives split.
 */
export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  let server = options.server;
  const serverOptions = {
    ...(options.stls === undefined ? {} : { stls: options.stls }),
    ...(options.greeting === undefined ? {} : { greeting: options.greeting }),
  };
  return {
    name: options.implicitTls ? "memory (implicit TLS)" : "memory",
    get server() {
      return server;
    },
    prepare(transcript) {
      if (options.server === undefined) {
        server = ReferenceServer.fromTranscript(transcript, serverOptions);
      }
    },
    async connect(_session, sink): Promise<TranscriptConnection> {
      const reference = server;
      if (reference === undefined) throw new Error("no reference server: call prepare first");
      let clientGone = false;
      let serverGone = false;
      const later = (task: () => void): void => {
        setImmediate(task);
      };
      const connection = reference.accept(
        {
          send: (bytes) => {
            const copy = bytes.slice();
            later(() => {
              if (!clientGone) sink.data(copy);
            });
          },
          close: () => {
            serverGone = true;
            later(() => {
              if (!clientGone) sink.end();
            });
          },
        },
        { tls: options.implicitTls ?? false },
      );
      const hangUp = (): void => {
        if (clientGone) return;
        clientGone = true;
        later(() => connection.disconnect());
      };
      return {
        write(bytes) {
          if (clientGone) throw new Error("the connection is closed");
          const copy = bytes.slice();
          later(() => {
            if (!serverGone) connection.receive(copy);
          });
        },
        async startTls() {
          // Let every byte already written reach the server first, as on a socket.
          await new Promise<void>((resolve) => later(resolve));
          connection.tlsEstablished();
        },
        close: hangUp,
        destroy: hangUp,
      };
    },
  };
}
