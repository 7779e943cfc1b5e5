import type { ServerStats } from "../context";
import type { ServerAddresses } from "../server";

/**
 * What the primary and its workers say to each other over the cluster IPC channel. Every message
 * carries `pop3Cluster` so that the helper ignores the application's own messages on the same
 * channel (and the application can ignore ours).
 */
export type WorkerMessage =
  | {
      readonly pop3Cluster: "ready";
      readonly addresses: ServerAddresses;
      /** `shutdownGraceMs + closeTimeoutMs` of the worker's server: how long close() may take. */
      readonly closeWithinMs: number;
    }
  | { readonly pop3Cluster: "failed"; readonly code: string; readonly message: string }
  | { readonly pop3Cluster: "stats"; readonly request: number; readonly stats: ServerStats };

export type PrimaryMessage =
  | { readonly pop3Cluster: "close" }
  | { readonly pop3Cluster: "stats"; readonly request: number };

/** Environment variables the primary sets on each fork. */
export const ENV_WORKERS = "POP3_SERVER_CLUSTER_WORKERS";

export function isClusterMessage<T extends { pop3Cluster: string }>(value: unknown): value is T {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { pop3Cluster?: unknown }).pop3Cluster === "string"
  );
}
