import cluster from "node:cluster";
import { resolveClusterOptions, type ServeInWorkersOptions } from "./options";
import { type ClusterHandle, serveAsPrimary } from "./primary";
import { serveAsWorker, type WorkerServing } from "./worker";

export type { ServeInWorkersOptions } from "./options";
export {
  type ClusterHandle,
  type ClusterStats,
  type ClusterWorker,
  WorkerStartError,
} from "./primary";
export type { WorkerServing } from "./worker";

/**
 * Serves with several processes sharing the listeners (node:cluster). The same script runs in
 * the primary and in every worker and calls this in both: in the primary it forks the workers
 * and resolves, once all listen, to a handle (`role: "primary"`); in a worker it runs `setup()`,
 * listens, and resolves to that worker's server (`role: "worker"`). Invalid options reject
 * with a `ConfigError`.
 */
export async function serveInWorkers(
  options: ServeInWorkersOptions,
): Promise<ClusterHandle | WorkerServing> {
  const resolved = resolveClusterOptions(options);
  return cluster.isPrimary ? serveAsPrimary(options, resolved) : serveAsWorker(options, resolved);
}
