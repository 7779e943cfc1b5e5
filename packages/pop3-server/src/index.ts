export * from "./auth/index";
export type { AuthContext, Authenticator, AuthResult } from "./auth/types";
export {
  type ClusterHandle,
  type ClusterStats,
  type ClusterWorker,
  type ServeInWorkersOptions,
  serveInWorkers,
  type WorkerServing,
  WorkerStartError,
} from "./cluster/index";
export type { ServerStats } from "./context";
export {
  BackendError,
  ConfigError,
  InvalidUserError,
  MaildropInUseError,
  ServerError,
  type ServerErrorCode,
} from "./errors";
export type { Logger } from "./logger";
export { silentLogger } from "./logger";
export type { LoginResult, ServerObserver, SessionOutcome } from "./observer";
export type { ResolvedOptions, ServerLimits, ServerOptions, TlsOptions } from "./options";
export {
  MAX_V1_HEADER_LENGTH,
  type ProxyEndpoint,
  type ProxyHeader,
  ProxyHeaderError,
  type ProxyParseResult,
  parseProxyHeader,
  readProxyHeader,
} from "./proxy-protocol";
export { createServer, type Pop3Server, type ServeOptions, type ServerAddresses } from "./server";
export * from "./store/index";
export type { Maildrop, MailStore, MessageInfo } from "./store/types";
