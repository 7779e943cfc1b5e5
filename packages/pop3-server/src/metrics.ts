/**
 * `pop3-server/metrics`: Prometheus metrics for pop3-server, with prom-client (an optional peer
 * dependency: install it to use this entry point; the main entry never loads it).
 *
 * ```ts
 * import { createServer } from "pop3-server";
 * import { createMetricsServer, Pop3Metrics } from "pop3-server/metrics";
 *
 * const metrics = new Pop3Metrics();
 * const server = createServer({ ...options, observer: metrics.observer });
 * const endpoint = createMetricsServer(server, { host: "127.0.0.1", port: 9110 });
 * await server.listen();
 * await endpoint.listen(); // GET http://127.0.0.1:9110/metrics
 * ```
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { z } from "zod";
import type { LoginResult, ServerObserver, SessionOutcome } from "./observer";
import type { Pop3Server } from "./server";

export interface Pop3MetricsOptions {
  /** Where the metrics are registered; default a registry of their own. */
  readonly registry?: Registry;
  /** Prefix of every metric name; default `pop3_`. */
  readonly prefix?: string;
  /** Upper bounds (seconds) of the RETR latency histogram's buckets. */
  readonly retrBuckets?: readonly number[];
  /** Also collect prom-client's default process metrics (CPU, memory, event loop) in the registry. */
  readonly defaultMetrics?: boolean;
}

const DEFAULT_RETR_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** The metrics of every server given `metrics.observer`, by its observer. */
const byObserver = new WeakMap<ServerObserver, Pop3Metrics>();

/**
 * The metrics of one or more pop3-server instances. Give `observer` to `createServer` for the
 * event metrics (logins, commands, sessions, RETR latency, lock contention) and `track(server)`
 * for the counters the server keeps itself (connections, bytes); `createMetricsServer` does the
 * latter for you.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `pop3_connections_total` | counter | |
 * | `pop3_connections_rejected_total` | counter | |
 * | `pop3_connections_active` | gauge | |
 * | `pop3_sessions_active` | gauge | |
 * | `pop3_sessions_total` | counter | `outcome`: quit, update-failed, timeout, dropped |
 * | `pop3_logins_total` | counter | `mechanism`, `result`: ok, failed, in-use, delayed, error |
 * | `pop3_commands_total` | counter | `command` |
 * | `pop3_bytes_sent_total`, `pop3_bytes_received_total` | counter | |
 * | `pop3_retr_duration_seconds` | histogram | |
 * | `pop3_retr_bytes_total` | counter | |
 * | `pop3_maildrop_in_use_total` | counter | |
 * | `pop3_messages_deleted_total` | counter | |
 */
export class Pop3Metrics {
  readonly registry: Registry;
  /** Pass this as the server's `observer` option. */
  readonly observer: ServerObserver;
  readonly #servers = new Set<Pop3Server>();

  constructor(options: Pop3MetricsOptions = {}) {
    const registry = options.registry ?? new Registry();
    const prefix = options.prefix ?? "pop3_";
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
      throw new TypeError("Pop3Metrics: prefix must be a valid Prometheus metric name prefix");
    }
    this.registry = registry;
    const registers = [registry];
    const servers = this.#servers;
    const sum = (pick: (stats: ReturnType<Pop3Server["stats"]>) => number): number => {
      let total = 0;
      for (const server of servers) total += pick(server.stats());
      return total;
    };
    /** A counter that reads its value from the tracked servers' `stats()` when scraped. */
    const fromStats = (
      name: string,
      help: string,
      pick: (stats: ReturnType<Pop3Server["stats"]>) => number,
    ): void => {
      const counter: Counter = new Counter({
        name: `${prefix}${name}`,
        help,
        registers,
        collect() {
          counter.reset();
          counter.inc(sum(pick));
        },
      });
    };
    fromStats("connections_total", "Connections accepted.", (s) => s.connections);
    fromStats(
      "connections_rejected_total",
      "Connections refused by a connection limit or during shutdown.",
      (s) => s.connectionsRejected,
    );
    fromStats("bytes_sent_total", "Bytes written to clients.", (s) => s.bytesSent);
    fromStats("bytes_received_total", "Bytes read from clients.", (s) => s.bytesReceived);
    fromStats(
      "messages_deleted_total",
      "Messages removed by committed UPDATEs.",
      (s) => s.messagesDeleted,
    );
    const active: Gauge = new Gauge({
      name: `${prefix}connections_active`,
      help: "Connections open now.",
      registers,
      collect() {
        active.set(sum((s) => s.activeConnections));
      },
    });
    const sessionsActive = new Gauge({
      name: `${prefix}sessions_active`,
      help: "Logged-in sessions now.",
      registers,
    });
    const sessions = new Counter({
      name: `${prefix}sessions_total`,
      help: "Logged-in sessions that ended, by outcome.",
      labelNames: ["outcome"] as const,
      registers,
    });
    const logins = new Counter({
      name: `${prefix}logins_total`,
      help: "Login attempts, by mechanism and result.",
      labelNames: ["mechanism", "result"] as const,
      registers,
    });
    const commands = new Counter({
      name: `${prefix}commands_total`,
      help: "Commands processed, by name.",
      labelNames: ["command"] as const,
      registers,
    });
    const retrDuration = new Histogram({
      name: `${prefix}retr_duration_seconds`,
      help: "Time from a RETR command to the last byte of its answer queued.",
      buckets: [...(options.retrBuckets ?? DEFAULT_RETR_BUCKETS)],
      registers,
    });
    const retrBytes = new Counter({
      name: `${prefix}retr_bytes_total`,
      help: "Octets of messages retrieved in full (RFC 1939 sizes).",
      registers,
    });
    const inUse = new Counter({
      name: `${prefix}maildrop_in_use_total`,
      help: "Logins refused with [IN-USE]: the maildrop was locked by another session.",
      registers,
    });
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, prefix });

    this.observer = Object.freeze({
      onLogin(mechanism: string, result: LoginResult): void {
        logins.inc({ mechanism, result });
        if (result === "ok") sessionsActive.inc();
      },
      onCommand(name: string): void {
        commands.inc({ command: name });
      },
      onRetr(durationMs: number, bytes: number): void {
        retrDuration.observe(durationMs / 1000);
        retrBytes.inc(bytes);
      },
      onInUse(): void {
        inUse.inc();
      },
      onSessionEnd(outcome: SessionOutcome): void {
        sessions.inc({ outcome });
        sessionsActive.dec();
      },
    });
    byObserver.set(this.observer, this);
  }

  /** Counts `server.stats()` (connections, bytes, deletions) in the metrics; returns an undo. */
  track(server: Pop3Server): () => void {
    this.#servers.add(server);
    return () => {
      this.#servers.delete(server);
    };
  }

  /** The Prometheus text exposition of the registry. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `Content-Type` of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

const metricsServerOptionsSchema = z.object({
  /** Default `127.0.0.1`: metrics are for the monitoring network, not the internet. */
  host: z.string().min(1).default("127.0.0.1"),
  /** Port 0 picks a free one. */
  port: z.number().int().min(0).max(65535),
  /** Default `/metrics`. */
  path: z.string().startsWith("/").default("/metrics"),
  /** The metrics to serve; default the `Pop3Metrics` whose observer the server was given. */
  metrics: z.custom<Pop3Metrics>((v) => v instanceof Pop3Metrics, "not a Pop3Metrics").optional(),
});

export type MetricsServerOptions = z.input<typeof metricsServerOptionsSchema>;

export interface MetricsServer extends AsyncDisposable {
  readonly metrics: Pop3Metrics;
  /** Starts the HTTP listener; resolves to its address. */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * An HTTP endpoint serving `server`'s metrics in the Prometheus text format. The server must have
 * been created with `observer: metrics.observer` (or pass `metrics` and accept that only the
 * stats-based series move). Separate from the POP3 server's own life: close both.
 */
export function createMetricsServer(
  server: Pop3Server,
  options: MetricsServerOptions,
): MetricsServer {
  const parsed = metricsServerOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new TypeError(`createMetricsServer: invalid options:\n- ${problems.join("\n- ")}`);
  }
  const { host, port, path } = parsed.data;
  const observer = server.options.observer;
  const metrics =
    parsed.data.metrics ?? (observer === undefined ? undefined : byObserver.get(observer));
  if (metrics === undefined) {
    throw new TypeError(
      "createMetricsServer: create the server with { observer: metrics.observer } (metrics = new Pop3Metrics()), or pass { metrics }",
    );
  }
  const untrack = metrics.track(server);
  let http: HttpServer | undefined;
  let closing: Promise<void> | undefined;

  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const url = (request.url ?? "/").split("?")[0];
    if (url !== path) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end();
      return;
    }
    metrics.metrics().then(
      (text) => {
        response.writeHead(200, { "content-type": metrics.contentType });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "text/plain" });
        response.end(`${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  };

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      untrack();
      if (http === undefined) {
        resolve();
        return;
      }
      http.close(() => resolve());
      http.closeAllConnections();
    });
    return closing;
  };

  return {
    metrics,
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        http ??= createHttpServer(handler);
        const listening = http;
        listening.once("error", reject);
        listening.listen(port, host, () => {
          listening.off("error", reject);
          resolve(listening.address() as AddressInfo);
        });
      }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
