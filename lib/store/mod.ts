export type {
  CachedTranslation,
  ClientIdRecord,
  Store,
  StoredMessage,
  TranslationSource,
  UserRecord,
  WebSessionRecord,
} from "./store.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
export {
  DATA_KEY_CHECK,
  offlineBinding,
  openOfflineBody,
  openTranslation,
  sealOfflineBody,
  sealTranslation,
  translationBinding,
  translationLookup,
} from "./sealing.ts";
