/**
 * pop3-core: a pure, byte-exact POP3 codec and sans-I/O session state machines.
 * No I/O, no timers, no dependencies: bytes in, typed events out.
 */

// Errors and secrets
export {
  LocalProtocolError,
  Pop3Error,
  type Pop3ErrorCode,
  type Pop3ErrorOptions,
  RemoteProtocolError,
} from "./errors";
// Framing
export { LINE_TOO_LONG, LineReader, type LineResult } from "./framing/line-reader";
export {
  type DecodeResult,
  MultilineDecoder,
  type MultilineDecoderOptions,
} from "./framing/multiline-decoder";
export {
  encodeMultiline,
  MultilineEncoder,
  OctetSizeCounter,
  rfcOctetSize,
} from "./framing/multiline-encoder";
export { TopFilter } from "./framing/top-filter";
export { parseCapabilities, parseCapabilityLine, parseMechanismList } from "./parse/capability";
// Parse and serialize
export { parseCommand } from "./parse/command";
export { parseLanguageListing } from "./parse/language";
export {
  MAX_UID_LENGTH,
  parseDropListing,
  parseScanListing,
  parseUidListing,
  type UidListingOptions,
} from "./parse/listing";
export { isContinuationLine, parseContinuation } from "./parse/sasl";
export { findApopTimestamp, parseGreeting, parseStatusLine } from "./parse/status";
// SASL and APOP
export * from "./sasl/index";
export { isSecret, Secret } from "./secret";
export {
  serializeCapabilities,
  serializeCapability,
  serializeMechanismList,
} from "./serialize/capability";
export { encodeCommand, redactCommand, serializeCommand } from "./serialize/command";
export { serializeLanguageListing } from "./serialize/language";
export {
  serializeDropListing,
  serializeScanListing,
  serializeUidListing,
} from "./serialize/listing";
export { serializeContinuation } from "./serialize/sasl";
export { serializeGreeting, serializeStatusLine } from "./serialize/status";
// Sessions
export {
  type ClientEvent,
  ClientSession,
  type ClientSessionOptions,
  isFinalEvent,
  type SendOptions,
} from "./session/client-session";
export {
  type ServerEvent,
  ServerSession,
  type ServerSessionOptions,
} from "./session/server-session";
export { NEED_DATA, PAUSED } from "./session/signals";
export {
  ACCEPTED,
  type CommandKey,
  commandKey,
  ENDS_PIPELINE,
  hasMultilineReply,
  type Outcome,
  TRANSITIONS,
  type Transition,
} from "./session/table";
export { Capabilities, type Capability, type CapabilityName } from "./types/capability";
// Plain data
export {
  type CommandLimits,
  DEFAULT_COMMAND_LIMITS,
  KNOWN_COMMANDS,
  type Pop3Command,
  type Pop3CommandName,
  RFC_COMMAND_LIMITS,
} from "./types/command";
export {
  type DropListing,
  type Greeting,
  type LanguageListing,
  RESPONSE_CODES,
  type ScanListing,
  type StatusReply,
  type UidListing,
} from "./types/reply";
export type { SessionState } from "./types/state";
