export * from "./types.ts";
export { DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT } from "./ports.ts";
export { decodeJsonFrame, encodeJsonEvent, type RawCommand } from "./json.ts";
export {
  encodeTextEvent,
  formatTime,
  terminalSafe,
  TEXT_HELP,
  type TextDecoded,
  TextLineReader,
} from "./text.ts";
export { decodeUtf8, DEFAULT_MAX_LINE_BYTES, LineSplitter, type SplitLine } from "./lines.ts";
export { encodeRefusal, encodeSignInTimeout, type RefusalReason } from "./refusal.ts";
