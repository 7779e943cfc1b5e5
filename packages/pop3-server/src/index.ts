export * from "./auth/index";
export type { AuthContext, Authenticator, AuthResult } from "./auth/types";
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
export type { ResolvedOptions, ServerLimits, ServerOptions, TlsOptions } from "./options";
export { createServer, type Pop3Server, type ServerAddresses } from "./server";
export * from "./store/index";
export type { Maildrop, MailStore, MessageInfo } from "./store/types";
