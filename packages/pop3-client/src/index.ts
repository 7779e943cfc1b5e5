export type { LoginMechanism, LoginOptions } from "./auth";
export {
  type CallOptions,
  connect,
  Pop3Client,
  type QuitResult,
  type RawResult,
  type TlsInfo,
} from "./client";
export {
  ClientError,
  type ClientErrorCode,
  MissingFinalNewlineWarning,
  ServerReplyError,
  TruncatedMessageError,
} from "./errors";
export { MessageStream } from "./message-stream";
export type { ClientOptions, TraceEvent } from "./options";
export { type ServerIdentity, serverIdentity } from "./sni";
