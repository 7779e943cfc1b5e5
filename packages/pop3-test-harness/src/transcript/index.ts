export { describeMatch, matchLine } from "./match";
export {
  createMemoryTransport,
  type MemoryTransport,
  type MemoryTransportOptions,
} from "./memory-transport";
export {
  type ParseOptions,
  parseTranscript,
  type TranscriptProblem,
  TranscriptSyntaxError,
} from "./parse";
export {
  type ReferenceConnection,
  type ReferenceConnectionHandlers,
  type ReferenceMessage,
  ReferenceServer,
  type ReferenceServerOptions,
} from "./reference-server";
export {
  formatFailure,
  type RunOptions,
  runTranscript,
  type StepResult,
  type StepStatus,
  type TranscriptFailure,
  type TranscriptResult,
} from "./run";
export { createSocketTransport, type SocketTransportOptions } from "./socket-transport";
export {
  readTranscript,
  seedTestServer,
  type TestServerTransportOptions,
  testServerTransport,
} from "./test-server";
export { decodeQuoted, showBytes } from "./text";
export type { ConnectionSink, TranscriptConnection, TranscriptTransport } from "./transport";
export type * from "./types";
