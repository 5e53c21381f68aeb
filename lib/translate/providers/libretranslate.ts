/**
 * LibreTranslate: `POST /translate` with a JSON body whose `q` may be a list.
 * https://docs.libretranslate.com/guides/api_usage/
 */
import {
  type BatchLimits,
  type Translated,
  TranslateError,
  type TranslateRequest,
  type Translator,
} from "../translator.ts";
import { badResponse, clip, type ErrorAnswer, isRecord, joinUrl, requestJson } from "./http.ts";

export interface LibreTranslateOptions {
  /** The server, e.g. `http://127.0.0.1:5000`; there is no default. */
  baseUrl: string;
  /** Sent as `api_key` when the server requires one. */
  apiKey?: string;
  /**
   * Parley code → LibreTranslate code, added to (and overriding) `LIBRETRANSLATE_CODES`. Codes
   * in neither are sent as their primary subtag (`en-GB` → `en`).
   */
  codes?: Readonly<Record<string, string>>;
}

/**
 * The Parley codes LibreTranslate names differently: it has its own codes for Brazilian
 * Portuguese (`pb`) and Traditional Chinese (`zt`), per its supported-languages list.
 */
export const LIBRETRANSLATE_CODES: Readonly<Record<string, string>> = {
  "pt-BR": "pb",
  "zh-TW": "zt",
  "zh-HK": "zt",
  "zh-Hant": "zt",
};

// LibreTranslate's own codes back to Parley's primary-subtag form, for detected languages.
const FROM_LIBRE: Readonly<Record<string, string>> = { pb: "pt", zt: "zh" };

// 50 texts and 5000 characters: within the limits public LibreTranslate servers are run with
// (`--batch-limit`, `--char-limit`), which refuse a larger request with a 400.
const LIMITS: BatchLimits = { maxTexts: 50, maxChars: 5_000, concurrency: 4 };

/** Translates with a LibreTranslate server. */
export class LibreTranslateTranslator implements Translator {
  readonly name = "libretranslate" as const;
  readonly limits: BatchLimits = LIMITS;
  readonly #url: URL;
  readonly #apiKey: string | undefined;
  readonly #codes: Readonly<Record<string, string>>;

  /** @throws {Error} when `baseUrl` is missing or not a URL. */
  constructor(options: LibreTranslateOptions) {
    if (!options.baseUrl) throw new Error("the libretranslate translator needs a server URL");
    this.#url = joinUrl(options.baseUrl, "translate");
    this.#apiKey = options.apiKey || undefined;
    this.#codes = { ...LIBRETRANSLATE_CODES, ...options.codes };
  }

  /**
   * Translates the batch in one call; without a source the server detects it (`auto`) and the
   * result carries `detectedSource`.
   * @throws {TranslateError} for every failure.
   */
  async translate(request: TranslateRequest): Promise<Translated[]> {
    if (request.texts.length === 0) return [];
    const body: Record<string, unknown> = {
      q: request.texts,
      source: request.source === undefined ? "auto" : this.#code(request.source),
      target: this.#code(request.target),
      format: "text",
    };
    if (this.#apiKey !== undefined) body.api_key = this.#apiKey;

    const answer = await requestJson({
      provider: "libretranslate",
      url: this.#url,
      body,
      signal: request.signal,
      secrets: [this.#apiKey],
      parse: parseAnswer,
      mapError: mapLibreError,
    });
    const texts = typeof answer.texts === "string" ? [answer.texts] : answer.texts;
    if (texts.length !== request.texts.length) {
      throw badResponse(
        "libretranslate",
        `sent ${request.texts.length} texts, got ${texts.length} translations`,
      );
    }
    return texts.map((text, i) => {
      // A list answer reports one detection per text; a single answer, one for its text.
      const detected = Array.isArray(answer.detected) ? answer.detected[i] : answer.detected;
      return detected ? { text, detectedSource: detected } : { text };
    });
  }

  #code(code: string): string {
    return this.#codes[code] ?? code.split(/[-_]/)[0].toLowerCase();
  }
}

interface Answer {
  texts: string | string[];
  /** Per text (a list answer) or for the one text; Parley's form (`en`). */
  detected: string | undefined | (string | undefined)[];
}

function parseAnswer(json: unknown): Answer | undefined {
  if (!isRecord(json)) return undefined;
  const texts = json.translatedText;
  if (
    typeof texts !== "string" &&
    !(Array.isArray(texts) && texts.every((t): t is string => typeof t === "string"))
  ) {
    return undefined;
  }
  const raw = json.detectedLanguage;
  const detected = Array.isArray(raw) ? raw.map(detectedCode) : detectedCode(raw);
  return { texts, detected };
}

/** `{"confidence":90,"language":"en"}` → `en`. */
function detectedCode(value: unknown): string | undefined {
  if (!isRecord(value) || typeof value.language !== "string" || value.language === "") {
    return undefined;
  }
  const code = value.language.split(/[-_]/)[0].toLowerCase();
  return FROM_LIBRE[code] ?? code;
}

/** LibreTranslate's error body is `{"error": "…"}`. */
function mapLibreError({ status, json, text }: ErrorAnswer): TranslateError | undefined {
  const message = isRecord(json) && typeof json.error === "string" ? json.error : clip(text);
  const detail = `libretranslate: HTTP ${status}: ${message}`;
  if (status === 400) {
    // "xx is not supported", or "French (fr) is not available as a target language from …";
    // "html format is not supported" is about our request, not the language.
    if (
      (/is not supported/i.test(message) && !/format is not supported/i.test(message)) ||
      /not available as a target language/i.test(message)
    ) {
      return new TranslateError("unsupported", detail, { status });
    }
    // A server that requires a key and got none: "Please contact the server operator to get an
    // API key" or "Visit … to get an API key".
    if (/API key/i.test(message)) return new TranslateError("bad_key", detail, { status });
    return new TranslateError("bad_response", detail, { status });
  }
  if (status === 403) {
    // The flood guard bans an address with a 403 too; that is rate limiting, not the key.
    if (/too many request/i.test(message)) {
      return new TranslateError("rate_limited", detail, { status });
    }
    return new TranslateError("bad_key", detail, { status });
  }
  if (status === 429) return new TranslateError("rate_limited", detail, { status });
  if (status >= 500) return new TranslateError("unavailable", detail, { status });
  return undefined;
}
