import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import type { TlsSetup } from "./context";

export interface HandshakeOptions {
  readonly setup: TlsSetup;
  /** The handshake is abandoned, and the socket destroyed, after this long. */
  readonly timeoutMs: number;
  /** The handshake finished: the secure socket is the connection's from now on. */
  readonly onSecure: (secure: TLSSocket) => void;
  /** The handshake failed or timed out; the socket is already destroyed. */
  readonly onFailure: (reason: string) => void;
}

/**
 * Runs the server side of a TLS handshake on an accepted socket, or any duplex stream given to
 * `serve`: the implicit-TLS port, a PROXY connection after its header, and STLS all come here. A client that sends nothing, or half a
 * ClientHello, is closed when the time is up — a handshake that is only logged would hold its
 * file descriptor for ever.
 */
export function serverHandshake(socket: Duplex, options: HandshakeOptions): TLSSocket {
  // The TLS socket reports the stream's errors from now on; the raw one must not throw unheard.
  socket.on("error", () => {});
  const secure = new TLSSocket(socket, {
    isServer: true,
    secureContext: options.setup.secureContext,
    SNICallback: options.setup.SNICallback,
  });
  let settled = false;
  const fail = (reason: string): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    secure.destroy();
    socket.destroy();
    options.onFailure(reason);
  };
  const timer = setTimeout(() => fail("TLS handshake timed out"), options.timeoutMs);
  const onError = (error: Error): void => fail(`TLS handshake failed: ${error.message}`);
  const onClose = (): void => fail("connection closed during the TLS handshake");
  secure.on("error", onError);
  secure.once("close", onClose);
  secure.once("secure", () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    secure.off("error", onError);
    secure.off("close", onClose);
    options.onSecure(secure);
  });
  return secure;
}
