import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import type { Duplex } from "node:stream";
import { Admission, type Slot } from "./admission";
import { Connection } from "./connection";
import { createServerContext, type ServerStats } from "./context";
import { ConfigError } from "./errors";
import { type ListenerSteps, refuseConnection, runListenerSteps } from "./listener-steps";
import { type ResolvedOptions, resolveOptions, type ServerOptions } from "./options";
import { serverHandshake } from "./tls-handshake";

export interface ServerAddresses {
  /** The plain (and STLS) listener, when configured. */
  readonly plain?: AddressInfo;
  /** The implicit-TLS listener, when configured. */
  readonly implicitTls?: AddressInfo;
}

export interface ServeOptions {
  /** The client's address, for the per-address limits, login throttling and logs. */
  readonly remoteAddress?: string;
  /** TLS from the first byte, as on the implicit-TLS listener (needs `tls`). Default false. */
  readonly implicitTls?: boolean;
}

export interface Pop3Server extends AsyncDisposable {
  /** Starts the listeners; resolves to the bound addresses (port 0 gives a free port). */
  listen(): Promise<ServerAddresses>;
  /**
   * Stops accepting, lets running sessions finish for up to `limits.shutdownGraceMs`, then ends
   * the rest without UPDATE: nothing that was not QUIT is deleted. Resolves within about
   * `shutdownGraceMs + closeTimeoutMs` whatever the clients do.
   */
  close(): Promise<void>;
  /**
   * Serves one client over `stream`, any duplex byte stream: an in-memory pair in a test, a
   * socket accepted by code of your own, a pipe. It is a connection like one of the plain
   * listener (with `implicitTls`, of the implicit-TLS one): the same session, limits, counters
   * and shutdown; STLS runs a real TLS handshake over the stream. `listen()` is not needed.
   * Resolves once the connection has closed and its maildrop is released.
   */
  serve(stream: Duplex, options?: ServeOptions): Promise<void>;
  /** A copy of the counters. */
  stats(): Readonly<ServerStats>;
  readonly options: ResolvedOptions;
}

/** Creates a POP3 server; options are validated here and a `ConfigError` lists every problem. */
export function createServer(input: ServerOptions): Pop3Server {
  const options = resolveOptions(input);
  const { limits, logger } = options;
  const context = createServerContext(options);
  const { stats, tls } = context;
  const admission = new Admission(limits);
  /** Accepted sockets not yet in a session (TLS handshake, PROXY header): shutdown ends them. */
  const starting = new Set<Duplex>();
  const connections = new Set<Connection>();
  const listeners: NetServer[] = [];
  let closing: Promise<void> | undefined;

  /**
   * Takes a slot for a new connection, before any handshake; it is given back when the stream
   * closes. `peer`: the stream's own peer, for logs; `address`: the client's, undefined until a
   * PROXY header names it. `tell`: a refusal can be told in a POP3 line. Undefined when refused
   * (the stream is then closed).
   */
  function admit(stream: Duplex, peer: string, address: string | undefined, tell: boolean) {
    stream.on("error", () => {});
    const slot = closing !== undefined ? "closing" : admission.admit(address);
    if (typeof slot === "string") {
      stats.connectionsRejected += 1;
      logger.warn({ address: peer, refusal: slot }, "connection refused: limit reached");
      refuseConnection(stream, tell, limits.closeTimeoutMs);
      return undefined;
    }
    stats.connections += 1;
    stats.activeConnections += 1;
    starting.add(stream);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      starting.delete(stream);
      slot.release();
      stats.activeConnections -= 1;
    };
    stream.once("close", release);
    // Evicted before a session started (still in the handshake or the PROXY header).
    slot.onEvict(() => stream.destroy());
    return { slot, release };
  }

  /** The session starts on `ready` (the stream itself, or the TLS socket around it). */
  function startSession(
    stream: Duplex,
    ready: Duplex,
    admitted: { readonly slot: Slot; readonly release: () => void },
    remoteAddress: string,
  ): Connection {
    starting.delete(stream);
    // A TLS socket wraps the TCP one; whichever reports the close first frees the slot.
    if (ready !== stream) ready.once("close", admitted.release);
    const connection = new Connection(context, ready, {
      remoteAddress,
      onLogin: () => admitted.slot.loggedIn(),
      onClosed: () => connections.delete(connection),
    });
    admitted.slot.onEvict(() =>
      connection.terminate({ ok: false, code: "SYS/TEMP", text: "server busy, try later" }),
    );
    connections.add(connection);
    connection.start();
    return connection;
  }

  /** A new TCP connection, on any listener. `plainText`: it is not TLS from the first byte. */
  function onTcpConnection(socket: Socket, steps: ListenerSteps, plainText: boolean): void {
    const peer = socket.remoteAddress ?? "unknown";
    const admitted = admit(socket, peer, steps.proxy ? undefined : peer, plainText && !steps.proxy);
    if (admitted === undefined) return;
    runListenerSteps(socket, admitted.slot, steps, (ready, remoteAddress) => {
      startSession(socket, ready, admitted, remoteAddress);
    });
  }

  async function serve(stream: Duplex, serveOptions: ServeOptions = {}): Promise<void> {
    const address = serveOptions.remoteAddress ?? "unknown";
    const implicitTls = serveOptions.implicitTls === true;
    if (implicitTls && tls === undefined) {
      throw new ConfigError("serve: implicitTls needs the tls option (key and cert)");
    }
    const admitted = admit(stream, address, address, !implicitTls);
    if (admitted === undefined) return;
    const session = new Promise<Connection | undefined>((resolve) => {
      const begin = (ready: Duplex): void => {
        const connection = startSession(stream, ready, admitted, address);
        // After STLS the TLS socket may outlive an in-memory stream's close event: the session's
        // own end gives the slot back too.
        void connection.whenClosed().then(admitted.release);
        resolve(connection);
      };
      if (!implicitTls || tls === undefined) {
        begin(stream);
        return;
      }
      serverHandshake(stream, {
        setup: tls,
        timeoutMs: limits.tlsHandshakeTimeoutMs,
        onSecure: begin,
        onFailure: (reason) => {
          logger.debug({ address }, reason);
          resolve(undefined);
        },
      });
    });
    // A failed or abandoned handshake resolves `session` too (to undefined).
    await (await session)?.whenClosed();
  }

  async function listen(): Promise<ServerAddresses> {
    const addresses: { plain?: AddressInfo; implicitTls?: AddressInfo } = {};
    const proxyStep = (enabled: boolean) =>
      enabled ? { proxy: { headerTimeoutMs: limits.proxyHeaderTimeoutMs } } : {};
    if (options.plain !== undefined) {
      const steps: ListenerSteps = {
        logger,
        closeTimeoutMs: limits.closeTimeoutMs,
        ...proxyStep(options.plain.proxyProtocol),
      };
      const server = createNetServer({ noDelay: true }, (socket) =>
        onTcpConnection(socket, steps, true),
      );
      addresses.plain = await bind(server, options.plain.host, options.plain.port);
      listeners.push(server);
    }
    if (options.implicitTls !== undefined && tls !== undefined) {
      // The handshake runs on an accepted TCP socket, so the connection is counted, limited and
      // timed from its first byte, not from a finished handshake.
      const steps: ListenerSteps = {
        logger,
        closeTimeoutMs: limits.closeTimeoutMs,
        ...proxyStep(options.implicitTls.proxyProtocol),
        tls: { setup: tls, handshakeTimeoutMs: limits.tlsHandshakeTimeoutMs },
      };
      const server = createNetServer({ noDelay: true }, (socket) =>
        onTcpConnection(socket, steps, false),
      );
      addresses.implicitTls = await bind(
        server,
        options.implicitTls.host,
        options.implicitTls.port,
      );
      listeners.push(server);
    }
    logger.info({ ...addresses }, "listening");
    return addresses;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      // server.close() stops accepting at once; its callback waits for every connection to end.
      const stopped = Promise.all(
        listeners.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      // Sockets still in a TLS handshake or PROXY header have no session to finish.
      for (const socket of starting) socket.destroy();
      const all = Promise.all([...connections].map((c) => c.whenClosed()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<"grace">((resolve) => {
        timer = setTimeout(() => resolve("grace"), limits.shutdownGraceMs);
      });
      const outcome = await Promise.race([all.then(() => "done" as const), grace]);
      clearTimeout(timer);
      if (outcome === "grace") {
        for (const connection of connections) {
          connection.terminate({ ok: false, code: "SYS/TEMP", text: "server shutting down" });
        }
        await all;
      }
      await stopped;
      await context.hashPool.close();
      await options.store.close?.();
      logger.info({}, "closed");
    })();
    return closing;
  }

  return {
    options,
    listen,
    serve,
    close,
    stats: () => ({ ...stats }),
    [Symbol.asyncDispose]: close,
  };
}

function bind(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
