/**
 * Google Cloud Translation v2 (Basic) over REST: `POST /language/translate/v2?key=…` with a JSON
 * body. https://cloud.google.com/translate/docs/reference/rest/v2/translate
 */
import {
  type BatchLimits,
  type Translated,
  TranslateError,
  type TranslateRequest,
  type Translator,
} from "../translator.ts";
import { badResponse, clip, type ErrorAnswer, isRecord, joinUrl, requestJson } from "./http.ts";

export const GOOGLE_BASE_URL = "https://translation.googleapis.com";

export interface GoogleOptions {
  apiKey: string;
  /** Defaults to `https://translation.googleapis.com`; tests point it at a loopback fake. */
  baseUrl?: string;
}

// 128 text segments per request is Google's documented v2 maximum; 30k characters keeps one
// call well under its recommended request size.
const LIMITS: BatchLimits = { maxTexts: 128, maxChars: 30_000, concurrency: 4 };

// The `errors[].reason` values Google uses for a spent quota (v2 error catalogue).
const QUOTA_REASONS = new Set([
  "dailyLimitExceeded",
  "userRateLimitExceeded",
  "rateLimitExceeded",
  "quotaExceeded",
  "dailyLimitExceededUnreg",
]);

/** Translates with Google Cloud Translation v2 (Basic). */
export class GoogleTranslator implements Translator {
  readonly name = "google" as const;
  readonly limits: BatchLimits = LIMITS;
  readonly #apiKey: string;
  readonly #url: URL;

  /** @throws {Error} when `apiKey` is empty. */
  constructor(options: GoogleOptions) {
    if (!options.apiKey) throw new Error("the google translator needs an API key");
    this.#apiKey = options.apiKey;
    this.#url = joinUrl(options.baseUrl ?? GOOGLE_BASE_URL, "language/translate/v2");
  }

  /**
   * Translates the batch in one call. Without a source, Google detects it per text and the result
   * carries `detectedSource`.
   * @throws {TranslateError} for every failure.
   */
  async translate(request: TranslateRequest): Promise<Translated[]> {
    if (request.texts.length === 0) return [];
    const url = new URL(this.#url);
    url.searchParams.set("key", this.#apiKey);
    // format=text: the default (html) would answer with entities (`&amp;`, `&#39;`) and treat
    // `<b>` as markup; Parley sends plain text and must get plain text back.
    const body: Record<string, unknown> = {
      q: request.texts,
      target: request.target,
      format: "text",
    };
    if (request.source !== undefined) body.source = request.source;

    const translations = await requestJson({
      provider: "google",
      url,
      body,
      signal: request.signal,
      secrets: [this.#apiKey],
      parse: parseAnswer,
      mapError: mapGoogleError,
    });
    if (translations.length !== request.texts.length) {
      throw badResponse(
        "google",
        `sent ${request.texts.length} texts, got ${translations.length} translations`,
      );
    }
    return translations;
  }
}

function parseAnswer(json: unknown): Translated[] | undefined {
  if (!isRecord(json) || !isRecord(json.data) || !Array.isArray(json.data.translations)) {
    return undefined;
  }
  const out: Translated[] = [];
  for (const item of json.data.translations) {
    if (!isRecord(item) || typeof item.translatedText !== "string") return undefined;
    const detected = item.detectedSourceLanguage;
    out.push(
      typeof detected === "string" && detected !== ""
        ? { text: item.translatedText, detectedSource: primaryLanguage(detected) }
        : { text: item.translatedText },
    );
  }
  return out;
}

/** `zh-CN` → `zh`: Parley records the sender's language by its primary subtag. */
function primaryLanguage(code: string): string {
  return code.split(/[-_]/)[0].toLowerCase();
}

/** Google's documented error body: `{"error":{"code","message","errors":[{reason}],"status"}}`. */
function mapGoogleError({ status, json, text }: ErrorAnswer): TranslateError | undefined {
  const error = isRecord(json) && isRecord(json.error) ? json.error : undefined;
  const message = typeof error?.message === "string" ? error.message : clip(text);
  const reasons = new Set<string>();
  for (const list of [error?.errors, error?.details]) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (isRecord(item) && typeof item.reason === "string") reasons.add(item.reason);
    }
  }
  const detail = `google: HTTP ${status}: ${message}`;
  const has = (...words: string[]) =>
    words.some((w) => message.toLowerCase().includes(w.toLowerCase()));

  if (status === 400) {
    if (reasons.has("keyInvalid") || reasons.has("API_KEY_INVALID") || has("API key not valid")) {
      return new TranslateError("bad_key", detail, { status });
    }
    // "Bad language pair: xx|yy", or a bare "Invalid Value" for an unknown target: we control
    // every other field, so an invalid value is the language.
    if (has("Bad language pair", "language") || message.trim() === "Invalid Value") {
      return new TranslateError("unsupported", detail, { status });
    }
    return new TranslateError("bad_response", detail, { status });
  }
  if (status === 401) return new TranslateError("bad_key", detail, { status });
  if (status === 403) {
    const quota = [...reasons].some((r) => QUOTA_REASONS.has(r)) ||
      has("Daily Limit Exceeded", "User Rate Limit Exceeded", "Rate Limit Exceeded", "quota");
    // Any other 403 is about the key or project (API not enabled, referrer or IP restriction).
    return new TranslateError(quota ? "quota" : "bad_key", detail, { status });
  }
  if (status === 429) return new TranslateError("rate_limited", detail, { status });
  if (status >= 500) return new TranslateError("unavailable", detail, { status });
  return undefined;
}
