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
  MaildropLockLostError,
  type MessageSource,
  PostgresStore,
} from "./store";
