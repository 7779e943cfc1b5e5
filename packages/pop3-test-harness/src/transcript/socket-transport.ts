import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { serverIdentity } from "pop3-client";
import type { ConnectionSink, TranscriptConnection, TranscriptTransport } from "./transport";
import type { Transcript } from "./types";

export interface SocketTransportOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  readonly port: number;
  /** `implicit`: TLS from the first byte (POP3S, RFC 8314). Default `none` (STLS may upgrade). */
  readonly tls?: "none" | "implicit";
  /** For implicit TLS and STLS: `ca`, `servername`, `rejectUnauthorized`... */
  readonly tlsOptions?: Omit<ConnectionOptions, "socket" | "host" | "port">;
  /** Called before each run with the transcript, to create its users and messages on the server. */
  readonly seed?: (transcript: Transcript) => void | Promise<void>;
  /** For reports. Default `host:port`. */
  readonly name?: string;
}

/**
 * Plays transcripts against any POP3 server on a host and port, plain or implicit TLS; the
 * `starttls` directive upgrades a plain connection with `node:tls`.
 */
export function createSocketTransport(options: SocketTransportOptions): TranscriptTransport {
  const host = options.host ?? "127.0.0.1";
  const implicit = options.tls === "implicit";
  const transport: TranscriptTransport = {
    name: options.name ?? `${implicit ? "pop3s" : "pop3"}://${host}:${options.port}`,
    connect: async (_session, sink) => {
      const socket = implicit
        ? await opened(
            tlsConnect({
              ...options.tlsOptions,
              host,
              port: options.port,
              ...serverName(host, options),
            }),
            "secureConnect",
          )
        : await opened(netConnect({ host, port: options.port }), "connect");
      return new StreamConnection(socket, sink, host, options);
    },
  };
  const seed = options.seed;
  return seed === undefined ? transport : { ...transport, prepare: (t) => seed(t) };
}

/**
 * A client connection over a byte stream: a TCP or TLS socket, or one end of the in-memory pair
 * of `createMemoryTransport`. `startTls` is a real handshake (`node:tls`) over the same stream.
 */
export class StreamConnection implements TranscriptConnection {
  #socket: Duplex;
  readonly #sink: ConnectionSink;
  readonly #host: string;
  readonly #options: Pick<SocketTransportOptions, "tlsOptions">;
  #error: Error | undefined;

  constructor(
    socket: Duplex,
    sink: ConnectionSink,
    host: string,
    options: Pick<SocketTransportOptions, "tlsOptions">,
  ) {
    this.#socket = socket;
    this.#sink = sink;
    this.#host = host;
    this.#options = options;
    this.#attach(socket);
  }

  write(bytes: Uint8Array): void {
    if (this.#socket.destroyed || this.#socket.writableEnded) {
      throw new Error("the connection is closed");
    }
    this.#socket.write(bytes);
  }

  async startTls(): Promise<void> {
    const raw = this.#socket;
    this.#detach(raw);
    const secure = tlsConnect({
      ...this.#options.tlsOptions,
      socket: raw,
      ...serverName(this.#host, this.#options),
    });
    this.#socket = secure;
    this.#attach(secure);
    await opened(secure, "secureConnect");
  }

  close(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  readonly #onData = (chunk: Buffer): void => this.#sink.data(chunk);
  readonly #onEnd = (): void => this.#sink.end();
  readonly #onError = (error: Error): void => {
    this.#error = error;
  };
  readonly #onClose = (): void => this.#sink.end(this.#error);

  #attach(socket: Duplex): void {
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
  }

  #detach(socket: Duplex): void {
    socket.off("data", this.#onData);
    socket.off("end", this.#onEnd);
    socket.off("error", this.#onError);
    socket.off("close", this.#onClose);
  }
}

/**
 * pop3-client's rule for naming the server (`serverIdentity`): the certificate must match
 * `tlsOptions.servername` if given, else the host, an IP address included; it is sent as SNI only
 * when it is a host name (RFC 6066 §3), even when the caller gave an IP as `servername`. A caller's
 * own `checkServerIdentity` is kept and given that name, not Node's pick (which, over the existing
 * socket of STLS, has no host to go by and may be "localhost").
 */
function serverName(
  host: string,
  options: Pick<SocketTransportOptions, "tlsOptions">,
): Pick<ConnectionOptions, "servername" | "checkServerIdentity"> {
  const identity = serverIdentity(host, options.tlsOptions?.servername);
  const custom = options.tlsOptions?.checkServerIdentity;
  return {
    // Present and undefined when no SNI is due: it must replace a servername spread from
    // `tlsOptions` (an IP address), and Node treats undefined as none.
    servername: identity.tlsOptions.servername,
    checkServerIdentity:
      custom === undefined
        ? identity.tlsOptions.checkServerIdentity
        : (_hostname, cert) => custom(identity.name, cert),
  };
}

/** Resolves once `event` fired, rejects on an error or close before it. */
export function opened<S extends Duplex>(socket: S, event: string): Promise<S> {
  return new Promise((resolve, reject) => {
    const fail = (error?: Error): void => {
      cleanup();
      socket.destroy();
      reject(error ?? new Error("connection closed before it was established"));
    };
    const onClose = (): void => fail();
    const done = (): void => {
      cleanup();
      resolve(socket);
    };
    const cleanup = (): void => {
      socket.off(event, done);
      socket.off("error", fail);
      socket.off("close", onClose);
    };
    socket.once(event, done);
    socket.once("error", fail);
    socket.once("close", onClose);
  });
}
