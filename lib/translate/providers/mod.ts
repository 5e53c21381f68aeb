/** The translation providers Parley ships, and the factory that picks one from configuration. */
import type { ProviderName, Translator } from "../translator.ts";
import { ApertiumTranslator } from "./apertium.ts";
import { GoogleTranslator } from "./google.ts";
import { LibreTranslateTranslator } from "./libretranslate.ts";

export {
  APERTIUM_BASE_URL,
  type ApertiumOptions,
  type ApertiumPair,
  ApertiumTranslator,
} from "./apertium.ts";
export { GOOGLE_BASE_URL, type GoogleOptions, GoogleTranslator } from "./google.ts";
export {
  LIBRETRANSLATE_CODES,
  type LibreTranslateOptions,
  LibreTranslateTranslator,
} from "./libretranslate.ts";

export interface TranslatorOptions {
  provider: ProviderName;
  /** The service's base URL: required for libretranslate, optional for google and apertium. */
  url?: string;
  /** Required for google; sent as `api_key` to libretranslate when set. */
  apiKey?: string;
  /** Told when the provider cannot be reached at start (Apertium's pair list). */
  onStartError?: (err: Error) => void;
}

/**
 * Builds the configured provider; undefined for `none`. An Apertium translator starts fetching
 * its pair list at once (a failure is retried by its refresh timer); call `close()` when done.
 * @throws {Error} when google has no API key or libretranslate no URL.
 */
export function createTranslator(options: TranslatorOptions): Translator | undefined {
  switch (options.provider) {
    case "none":
      return undefined;
    case "google":
      if (!options.apiKey) {
        throw new Error("translation provider google needs an API key");
      }
      return new GoogleTranslator({ apiKey: options.apiKey, baseUrl: options.url });
    case "libretranslate":
      if (!options.url) {
        throw new Error("translation provider libretranslate needs a server URL");
      }
      return new LibreTranslateTranslator({ baseUrl: options.url, apiKey: options.apiKey });
    case "apertium": {
      const translator = new ApertiumTranslator({ baseUrl: options.url });
      // Not awaited: the server must start even while APy is down; until the list is known,
      // supports() says undefined and calls go out with the plain pair codes.
      translator.start().catch((err) => options.onStartError?.(err));
      return translator;
    }
  }
}
