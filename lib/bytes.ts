/**
 * Byte helpers for the whole code base. Their one implementation lives in the crypto core, which
 * may import nothing outside lib/crypto (it is bundled for the browser on its own).
 */
export { concatBytes } from "./crypto/_encoding.ts";
