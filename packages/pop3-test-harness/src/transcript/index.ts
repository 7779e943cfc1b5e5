export { describeMatch, matchLine } from "./match";
export { MemoryEnd, memoryPair } from "./memory-pair";
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
  formatFailure,
  type RunOptions,
  runTranscript,
  type StepResult,
  type StepStatus,
  type TranscriptFailure,
  type TranscriptResult,
} from "./run";
export {
  createSocketTransport,
  type SocketTransportOptions,
  StreamConnection,
} from "./socket-transport";
export {
  readTranscript,
  seedTestServer,
  type TestServerTransportOptions,
  testServerTransport,
} from "./test-server";
export { decodeQuoted, showBytes } from "./text";
export type { ConnectionSink, TranscriptConnection, TranscriptTransport } from "./transport";
export type * from "./types";
