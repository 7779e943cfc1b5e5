import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { TlsSetup } from "./context";
import type { Logger } from "./logger";
import { readProxyHeader } from "./proxy-protocol";

export interface ProxiedAcceptOptions {
  readonly headerTimeoutMs: number;
  readonly logger: Logger;
  /** Implicit TLS: the handshake starts after the PROXY header, on the same socket. */
  readonly tls?: { readonly setup: TlsSetup; readonly handshakeTimeoutMs: number };
}

/**
 * A listener with `proxyProtocol: true`: reads the PROXY header (v1 or v2) on the raw socket,
 * closes the connection when it is missing, invalid or late, then (for implicit TLS) runs the TLS
 * handshake on the rest of the stream, and hands the socket to `accept` with the client's real
 * address: the header's source for a proxied TCP connection, else the socket's own peer.
 */
export function acceptProxied(
  socket: Socket,
  options: ProxiedAcceptOptions,
  accept: (socket: Socket, remoteAddress: string) => void,
): void {
  const peer = socket.remoteAddress ?? "unknown";
  socket.setNoDelay(true);
  readProxyHeader(socket, options.headerTimeoutMs).then(
    (header) => {
      const address =
        header.command === "PROXY" && header.source !== undefined ? header.source.address : peer;
      options.logger.debug(
        { address, proxy: peer, version: header.version, command: header.command },
        "PROXY header",
      );
      if (options.tls === undefined) {
        accept(socket, address);
        // readProxyHeader paused the socket; the connection's reader is attached now.
        socket.resume();
        return;
      }
      const { setup, handshakeTimeoutMs } = options.tls;
      // The TLS socket reports the stream's errors; the raw one must not throw unheard.
      socket.on("error", () => {});
      const secure = new TLSSocket(socket, {
        isServer: true,
        secureContext: setup.secureContext,
        SNICallback: setup.SNICallback,
      });
      const timer = setTimeout(() => {
        options.logger.debug({ address, proxy: peer }, "TLS handshake timed out");
        secure.destroy();
      }, handshakeTimeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        options.logger.debug({ address, proxy: peer, err: error.message }, "TLS handshake failed");
        secure.destroy();
      };
      secure.on("error", onError);
      secure.once("close", () => clearTimeout(timer));
      secure.once("secure", () => {
        clearTimeout(timer);
        secure.off("error", onError);
        accept(secure, address);
      });
    },
    (error: unknown) => {
      options.logger.warn(
        { proxy: peer, err: error instanceof Error ? error.message : String(error) },
        "PROXY header missing or invalid: connection closed",
      );
      socket.destroy();
    },
  );
}
