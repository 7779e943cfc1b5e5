import { ConfigError } from "../errors";
import type { Pop3Server, ServerAddresses } from "../server";
import { MemoryStore } from "../store/memory-store";
import { ENV_WORKERS, isClusterMessage, type PrimaryMessage, type WorkerMessage } from "./messages";
import type { ResolvedClusterOptions, ServeInWorkersOptions } from "./options";

/** What serveInWorkers resolves to in a worker process. */
export interface WorkerServing {
  readonly role: "worker";
  /** This worker's server (already listening). */
  readonly server: Pop3Server;
  readonly addresses: ServerAddresses;
}

/**
 * The worker side: build the server, refuse a store that cannot be shared, listen, tell the
 * primary, then serve until the primary (or a signal) says close.
 */
export async function serveAsWorker(
  options: ServeInWorkersOptions,
  resolved: ResolvedClusterOptions,
): Promise<WorkerServing> {
  // The primary's count is the truth ("auto" could differ if the script computes it otherwise).
  const workers = Number(process.env[ENV_WORKERS] ?? resolved.workers);
  let server: Pop3Server | undefined;
  let addresses: ServerAddresses;
  try {
    server = await options.setup();
    if (workers > 1 && server.options.store instanceof MemoryStore) {
      throw new ConfigError(
        `MemoryStore cannot be shared by ${workers} worker processes: each would have its own ` +
          "copy of the mail and its own locks, so two sessions of one user could delete from " +
          "different copies. Use MaildirStore or pop3-store-postgres, or workers: 1.",
      );
    }
    addresses = await server.listen();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    await send({
      pop3Cluster: "failed",
      code: typeof code === "string" ? code : "UNKNOWN",
      message: error instanceof Error ? error.message : String(error),
    });
    await server?.close().catch(() => {});
    throw error;
  }
  const running = server;
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    // server.close() is bounded (shutdownGraceMs + closeTimeoutMs); the primary kills a worker
    // that overruns it. Exit explicitly: application timers must not keep a closed worker alive.
    void running.close().finally(() => process.exit(0));
  };
  process.on("message", (message: unknown) => {
    if (!isClusterMessage<PrimaryMessage>(message)) return;
    if (message.pop3Cluster === "close") close();
    else if (message.pop3Cluster === "stats")
      void send({ pop3Cluster: "stats", request: message.request, stats: running.stats() });
  });
  // Ctrl-C reaches the whole process group, and a supervisor may signal every process: a
  // signalled worker closes gracefully; the primary restarts it unless it is closing too.
  process.on("SIGINT", close);
  process.on("SIGTERM", close);
  const { limits } = running.options;
  await send({
    pop3Cluster: "ready",
    addresses,
    closeWithinMs: limits.shutdownGraceMs + limits.closeTimeoutMs,
  });
  return { role: "worker", server: running, addresses };
}

/** Resolves once the message is handed to the channel, so an exit right after cannot lose it. */
function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}
