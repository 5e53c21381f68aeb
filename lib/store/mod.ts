export type {
  AppendResult,
  CachedTranslation,
  ClientIdRecord,
  ConversationSummary,
  DeviceRecord,
  FileMeta,
  FileRecord,
  LogMessage,
  NewLogMessage,
  RoomMember,
  RoomRecord,
  RoomRole,
  RoomVisibility,
  Store,
  StoredMessage,
  SyncPage,
  TranslationSource,
  UserRecord,
  WebLoginRecord,
} from "./store.ts";
export { UNREAD_CAP } from "./store.ts";
export { type ConvTarget, parseConv, peerOf, privateConv, roomConv } from "./conv.ts";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
export {
  DATA_KEY_CHECK,
  messageBinding,
  offlineBinding,
  openMessageBody,
  openOfflineBody,
  openTranslation,
  sealMessageBody,
  sealOfflineBody,
  sealTranslation,
  translationBinding,
  translationLookup,
} from "./sealing.ts";
