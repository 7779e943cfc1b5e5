import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Slot } from "./admission";
import type { TlsSetup } from "./context";
import type { Logger } from "./logger";
import { readProxyHeader } from "./proxy-protocol";
import { serverHandshake } from "./tls-handshake";

/** What happens to an admitted TCP connection before the POP3 session starts. */
export interface ListenerSteps {
  readonly logger: Logger;
  /** How long a refused client gets to read why before its socket is destroyed. */
  readonly closeTimeoutMs: number;
  /** Read a PROXY protocol header (v1 or v2) first, and take the client's address from it. */
  readonly proxy?: { readonly headerTimeoutMs: number };
  /** Implicit TLS: the handshake runs (after the PROXY header, if any) on the same stream. */
  readonly tls?: { readonly setup: TlsSetup; readonly handshakeTimeoutMs: number };
}

/**
 * Takes an admitted socket through the listener's steps — the PROXY header, then the TLS
 * handshake — and hands the resulting socket to `start` with the client's real address: the
 * header's source for a proxied TCP connection, else the socket's own peer. A connection whose
 * header is missing, invalid or late, or whose handshake fails or stalls, is destroyed; its slot
 * is given back when the socket closes, as for every connection.
 */
export function runListenerSteps(
  socket: Socket,
  slot: Slot,
  steps: ListenerSteps,
  start: (socket: Socket | TLSSocket, remoteAddress: string) => void,
): void {
  const peer = socket.remoteAddress ?? "unknown";
  const handshake = (address: string): void => {
    const tls = steps.tls;
    if (tls === undefined) {
      start(socket, address);
      // readProxyHeader paused the socket; the connection's reader is attached now.
      socket.resume();
      return;
    }
    serverHandshake(socket, {
      setup: tls.setup,
      timeoutMs: tls.handshakeTimeoutMs,
      onSecure: (secure) => start(secure, address),
      onFailure: (reason) => steps.logger.debug({ address, proxy: peer }, reason),
    });
  };
  if (steps.proxy === undefined) {
    handshake(peer);
    return;
  }
  socket.setNoDelay(true);
  readProxyHeader(socket, steps.proxy.headerTimeoutMs).then(
    (header) => {
      const address =
        header.command === "PROXY" && header.source !== undefined ? header.source.address : peer;
      steps.logger.debug(
        { address, proxy: peer, version: header.version, command: header.command },
        "PROXY header",
      );
      const refusal = slot.identify(address);
      if (refusal !== undefined) {
        steps.logger.warn({ address, proxy: peer, refusal }, "connection refused: limit reached");
        refuseConnection(socket, steps.tls === undefined, steps.closeTimeoutMs);
        return;
      }
      handshake(address);
    },
    (error: unknown) => {
      steps.logger.warn(
        { proxy: peer, err: error instanceof Error ? error.message : String(error) },
        "PROXY header missing or invalid: connection closed",
      );
      socket.destroy();
    },
  );
}

/**
 * Closes a connection that is over a limit. A plain one is told why in a POP3 line (a TLS one
 * cannot be, before its handshake); a client that does not read that line is not waited for.
 */
export function refuseConnection(socket: Duplex, tell: boolean, closeTimeoutMs: number): void {
  if (!tell) {
    socket.destroy();
    return;
  }
  socket.end("-ERR [SYS/TEMP] too many connections, try later\r\n");
  setTimeout(() => socket.destroy(), closeTimeoutMs).unref();
}
