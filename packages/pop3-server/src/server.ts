import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";
import { Admission } from "./admission";
import { PasswordHashPool } from "./auth/hash-pool";
import { LoginDelayTracker, LoginThrottle } from "./auth/throttle";
import { Connection } from "./connection";
import { emptyStats, type ServerContext, type ServerStats, type TlsSetup } from "./context";
import { type ListenerSteps, refuseConnection, runListenerSteps } from "./listener-steps";
import {
  type ResolvedOptions,
  resolveOptions,
  type ServerOptions,
  type TlsOptions,
} from "./options";

export interface ServerAddresses {
  /** The plain (and STLS) listener, when configured. */
  readonly plain?: AddressInfo;
  /** The implicit-TLS listener, when configured. */
  readonly implicitTls?: AddressInfo;
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
  /** A copy of the counters. */
  stats(): Readonly<ServerStats>;
  readonly options: ResolvedOptions;
}

/** Creates a POP3 server; options are validated here and a `ConfigError` lists every problem. */
export function createServer(input: ServerOptions): Pop3Server {
  const options = resolveOptions(input);
  const { limits, logger } = options;
  const stats = emptyStats();
  const tls = options.tls === undefined ? undefined : tlsSetup(options.tls);
  const context: ServerContext = {
    options,
    stats,
    tls,
    throttle: new LoginThrottle({
      baseDelayMs: limits.failedLoginDelayMs,
      maxDelayMs: limits.maxFailedLoginDelayMs,
      maxFailuresPerAddress: limits.maxFailedLoginsPerAddress,
      maxFailuresPerUser: limits.maxFailedLoginsPerUser,
      resetAfterMs: limits.failedLoginWindowMs,
    }),
    hashPool: new PasswordHashPool({
      concurrency: limits.passwordHashConcurrency,
      maxQueue: limits.passwordHashQueueLength,
      queueTimeoutMs: limits.passwordHashQueueTimeoutMs,
    }),
    loginDelays: new LoginDelayTracker(),
  };
  const admission = new Admission(limits);
  /** Accepted sockets not yet in a session (TLS handshake, PROXY header): shutdown ends them. */
  const starting = new Set<Socket>();
  const connections = new Set<Connection>();
  const listeners: NetServer[] = [];
  let closing: Promise<void> | undefined;

  /**
   * A new TCP connection, on any listener: it takes a slot now, before any handshake, and gives
   * it back when the socket closes. `plainText`: a refusal can be told in a POP3 line.
   */
  function onTcpConnection(socket: Socket, steps: ListenerSteps, plainText: boolean): void {
    socket.on("error", () => {});
    const peer = socket.remoteAddress ?? "unknown";
    const slot =
      closing !== undefined ? "closing" : admission.admit(steps.proxy ? undefined : peer);
    if (typeof slot === "string") {
      stats.connectionsRejected += 1;
      logger.warn({ address: peer, refusal: slot }, "connection refused: limit reached");
      refuseConnection(socket, plainText && !steps.proxy, limits.closeTimeoutMs);
      return;
    }
    stats.connections += 1;
    stats.activeConnections += 1;
    starting.add(socket);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      starting.delete(socket);
      slot.release();
      stats.activeConnections -= 1;
    };
    socket.once("close", release);
    // Evicted before a session started (still in the handshake or the PROXY header).
    slot.onEvict(() => socket.destroy());
    runListenerSteps(socket, slot, steps, (ready, remoteAddress) => {
      starting.delete(socket);
      // A TLS socket wraps the TCP one; whichever reports the close first frees the slot.
      if (ready !== socket) ready.once("close", release);
      const connection = new Connection(context, ready, {
        remoteAddress,
        onLogin: () => slot.loggedIn(),
        onClosed: () => connections.delete(connection),
      });
      slot.onEvict(() =>
        connection.terminate({ ok: false, code: "SYS/TEMP", text: "server busy, try later" }),
      );
      connections.add(connection);
      connection.start();
    });
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

function tlsSetup(options: TlsOptions): TlsSetup {
  const base = {
    minVersion: options.minVersion,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
  const secureContext = createSecureContext({ ...base, key: options.key, cert: options.cert });
  const byName = new Map<string, SecureContext>();
  for (const [name, pair] of Object.entries(options.sni ?? {})) {
    byName.set(
      name.toLowerCase(),
      createSecureContext({ ...base, key: pair.key, cert: pair.cert }),
    );
  }
  return {
    secureContext,
    contextOptions: { ...base, key: options.key, cert: options.cert },
    SNICallback: (servername, callback) => {
      const name = servername.toLowerCase();
      // An exact name, else a wildcard entry for its parent domain, else the default pair.
      const wildcard = `*.${name.slice(name.indexOf(".") + 1)}`;
      callback(null, byName.get(name) ?? byName.get(wildcard) ?? secureContext);
    },
  };
}
