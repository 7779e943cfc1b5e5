export { MaildropLockLostError } from "./errors";
export { MIGRATIONS, type Migration } from "./migrations";
export {
  type PostgresStoreOptions,
  postgresStoreOptionsSchema,
  type ResolvedPostgresStoreOptions,
} from "./options";
export {
  createPostgresStore,
  type DeliveredMessage,
  type DeliverOptions,
  type MessageSource,
  PostgresStore,
} from "./store";
