export type { ClientIdRecord, Store, StoredMessage, UserRecord } from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
