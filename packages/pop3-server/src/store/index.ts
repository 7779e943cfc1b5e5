export { isValidUid, MAX_READ_CHUNK, UnsafeMaildropError } from "./common";
export { maildirUid } from "./maildir-names";
export { SIZE_CACHE_FILE } from "./maildir-size-cache";
export {
  DEFAULT_LOCK_STALE_MS,
  MAILDIR_LOCK_FILE,
  MaildirStore,
  type MaildirStoreOptions,
} from "./maildir-store";
export {
  type FailCommitHook,
  type MemoryMessage,
  MemoryStore,
  type MemoryStoreOptions,
} from "./memory-store";
export type { Maildrop, MailStore, MessageInfo } from "./types";
