export type {
  ClientIdRecord,
  Store,
  StoredMessage,
  UserRecord,
  WebSessionRecord,
} from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
