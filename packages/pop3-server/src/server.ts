import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import { createSecureContext, createServer as createTlsServer, type SecureContext } from "node:tls";
import { LoginDelayTracker, LoginThrottle } from "./auth/throttle";
import { Connection } from "./connection";
import { emptyStats, type ServerContext, type ServerStats, type TlsSetup } from "./context";
import {
  type ResolvedOptions,
  resolveOptions,
  type ServerOptions,
  type TlsOptions,
} from "./options";
import { acceptProxied } from "./proxy-listener";

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
   * the rest without UPDATE: nothing that was not QUIT is deleted.
   */
  close(): Promise<void>;
  /** A copy of the counters. */
  stats(): Readonly<ServerStats>;
  readonly options: ResolvedOptions;
}

/** Creates a POP3 server; options are validated here and a `ConfigError` lists every problem. */
export function createServer(input: ServerOptions): Pop3Server {
  const options = resolveOptions(input);
  const stats = emptyStats();
  const tls = options.tls === undefined ? undefined : tlsSetup(options.tls);
  const context: ServerContext = {
    options,
    stats,
    tls,
    throttle: new LoginThrottle({
      baseDelayMs: options.limits.failedLoginDelayMs,
      maxDelayMs: options.limits.maxFailedLoginDelayMs,
    }),
    loginDelays: new LoginDelayTracker(),
  };
  const connections = new Set<Connection>();
  const perAddress = new Map<string, number>();
  const listeners: NetServer[] = [];
  let closing: Promise<void> | undefined;

  /** `remoteAddress`: the client's real address when a PROXY header gave it. */
  function accept(socket: Socket, remoteAddress?: string): void {
    const address = remoteAddress ?? socket.remoteAddress ?? "unknown";
    const fromAddress = perAddress.get(address) ?? 0;
    if (
      closing !== undefined ||
      connections.size >= options.limits.maxConnections ||
      fromAddress >= options.limits.maxConnectionsPerAddress
    ) {
      stats.connectionsRejected += 1;
      options.logger.warn({ address }, "connection refused: limit reached");
      socket.on("error", () => {});
      socket.end("-ERR [SYS/TEMP] too many connections, try later\r\n");
      socket.destroySoon();
      return;
    }
    stats.connections += 1;
    stats.activeConnections += 1;
    perAddress.set(address, fromAddress + 1);
    const connection = new Connection(
      context,
      socket,
      () => {
        connections.delete(connection);
        stats.activeConnections -= 1;
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      },
      address,
    );
    connections.add(connection);
    connection.start();
  }

  async function listen(): Promise<ServerAddresses> {
    const addresses: { plain?: AddressInfo; implicitTls?: AddressInfo } = {};
    const proxied = (withTls: boolean) => (socket: Socket) =>
      acceptProxied(
        socket,
        {
          headerTimeoutMs: options.limits.proxyHeaderTimeoutMs,
          logger: options.logger,
          ...(withTls && tls !== undefined
            ? { tls: { setup: tls, handshakeTimeoutMs: options.limits.tlsHandshakeTimeoutMs } }
            : {}),
        },
        accept,
      );
    if (options.plain !== undefined) {
      const onSocket = options.plain.proxyProtocol ? proxied(false) : accept;
      const server = createNetServer({ noDelay: true }, onSocket);
      addresses.plain = await bind(server, options.plain.host, options.plain.port);
      listeners.push(server);
    }
    if (options.implicitTls?.proxyProtocol && tls !== undefined) {
      // The PROXY header comes before the TLS handshake: read it on the raw socket first.
      const server = createNetServer({ noDelay: true }, proxied(true));
      addresses.implicitTls = await bind(
        server,
        options.implicitTls.host,
        options.implicitTls.port,
      );
      listeners.push(server);
    } else if (options.implicitTls !== undefined && tls !== undefined) {
      const server = createTlsServer(
        {
          // The default certificate answers clients that send no SNI (an IP address, poplib, curl).
          ...tls.contextOptions,
          SNICallback: tls.SNICallback,
          handshakeTimeout: options.limits.tlsHandshakeTimeoutMs,
          noDelay: true,
        },
        accept,
      );
      server.on("tlsClientError", (error) =>
        options.logger.debug({ err: error.message }, "TLS handshake failed"),
      );
      addresses.implicitTls = await bind(
        server,
        options.implicitTls.host,
        options.implicitTls.port,
      );
      listeners.push(server);
    }
    options.logger.info({ ...addresses }, "listening");
    return addresses;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      // server.close() stops accepting at once; its callback waits for every connection to end.
      const stopped = Promise.all(
        listeners.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
      const all = Promise.all([...connections].map((c) => c.whenClosed()));
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<"grace">((resolve) => {
        timer = setTimeout(() => resolve("grace"), options.limits.shutdownGraceMs);
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
      await options.store.close?.();
      options.logger.info({}, "closed");
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
