export type {
  ClientIdRecord,
  Store,
  StoredMessage,
  UserRecord,
  WebSessionRecord,
} from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
export { DATA_KEY_CHECK, offlineBinding, openOfflineBody, sealOfflineBody } from "./sealing.ts";
