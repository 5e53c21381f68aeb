/**
 * Apertium through an APy server: `POST /translate` (form-encoded, one text per request) and
 * `GET /listPairs` for the installed language pairs. https://wiki.apertium.org/wiki/APy
 */
import {
  type BatchLimits,
  type Translated,
  TranslateError,
  type TranslateRequest,
  type Translator,
} from "../translator.ts";
import { type ErrorAnswer, isRecord, joinUrl, requestJson } from "./http.ts";
import { apertiumPrimary, parleyLanguagesOf, toApertiumCodes } from "./iso639.ts";

export const APERTIUM_BASE_URL = "http://127.0.0.1:2737";

export interface ApertiumOptions {
  /** The APy server; defaults to `http://127.0.0.1:2737` (APy's default port). */
  baseUrl?: string;
  /** How often the pair list is fetched again, in ms; defaults to 10 minutes. */
  refreshMs?: number;
  /** Deadline for one `/listPairs` fetch, in ms; defaults to 10 s. */
  listTimeoutMs?: number;
}

/** One installed pair, in Apertium's codes (`eng` → `spa`, `spa` → `eng_US`). */
export interface ApertiumPair {
  source: string;
  target: string;
}

// APy takes one `q` per request; 10k characters keeps one pipeline run short.
const LIMITS: BatchLimits = { maxTexts: 1, maxChars: 10_000, concurrency: 4 };
const REFRESH_MS = 10 * 60_000;
const LIST_TIMEOUT_MS = 10_000;

/** Translates with an Apertium APy server. Call `start()` to learn the installed pairs. */
export class ApertiumTranslator implements Translator {
  readonly name = "apertium" as const;
  readonly limits: BatchLimits = LIMITS;
  readonly #baseUrl: string;
  readonly #refreshMs: number;
  readonly #listTimeoutMs: number;
  #pairs: ApertiumPair[] | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;
  // Aborts a pair-list fetch still in flight when the translator is closed.
  readonly #closing = new AbortController();

  constructor(options: ApertiumOptions = {}) {
    this.#baseUrl = options.baseUrl ?? APERTIUM_BASE_URL;
    this.#refreshMs = options.refreshMs ?? REFRESH_MS;
    this.#listTimeoutMs = options.listTimeoutMs ?? LIST_TIMEOUT_MS;
  }

  /**
   * Fetches the pair list once and refreshes it every `refreshMs` from then on (on an unref'd
   * timer, so it never keeps the process alive). Safe to call again.
   * @throws {TranslateError} when the first fetch fails; the refresh timer keeps trying.
   */
  async start(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    if (this.#timer === undefined) {
      const timer = setInterval(() => {
        // A failed refresh keeps the last good list: pairs rarely disappear.
        this.refreshPairs().catch(() => {});
      }, this.#refreshMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    await this.refreshPairs();
  }

  /**
   * Fetches `/listPairs` now (joining a fetch already in flight).
   * @throws {TranslateError} when APy cannot be reached or answers something else.
   */
  refreshPairs(): Promise<void> {
    this.#refreshing ??= this.#fetchPairs().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** The installed pairs as last fetched, or undefined before the first answer. */
  get pairs(): readonly ApertiumPair[] | undefined {
    return this.#pairs;
  }

  /**
   * Whether an installed pair goes from `source` to `target` (Parley codes); undefined until the
   * pair list is known. False without a source: APy does not detect languages.
   */
  supports(source: string | undefined, target: string): boolean | undefined {
    if (this.#pairs === undefined) return undefined;
    if (source === undefined) return false;
    return findPair(this.#pairs, source, target) !== undefined;
  }

  /**
   * The languages of the installed pairs, in Parley's codes (`eng_US` → `en`); undefined until
   * the pair list is known.
   */
  languages(): ReadonlySet<string> | undefined {
    if (this.#pairs === undefined) return undefined;
    return parleyLanguagesOf(this.#pairs.flatMap((p) => [p.source, p.target]));
  }

  /**
   * Translates each text with its own APy request (APy takes one `q`; `limits.maxTexts` is 1, so
   * the service sends one text per call anyway).
   * @throws {TranslateError} `unsupported` without a source or when no installed pair fits.
   */
  async translate(request: TranslateRequest): Promise<Translated[]> {
    if (request.texts.length === 0) return [];
    const { source, target } = request;
    if (source === undefined) {
      throw new TranslateError("unsupported", "apertium: a source language is required");
    }
    const langpair = this.#langpair(source, target);
    const out: Translated[] = [];
    for (const text of request.texts) {
      out.push({ text: await this.#translateOne(text, langpair, request.signal) });
    }
    return out;
  }

  /** Stops the refresh timer and any pair-list fetch in flight; idempotent. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closing.abort();
  }

  #langpair(source: string, target: string): string {
    if (this.#pairs === undefined) {
      // Not known yet: try the plain codes and let APy say whether the pair exists.
      return `${plainCode(source)}|${plainCode(target)}`;
    }
    const pair = findPair(this.#pairs, source, target);
    if (!pair) {
      throw new TranslateError("unsupported", `apertium: no installed pair ${source} → ${target}`);
    }
    return `${pair.source}|${pair.target}`;
  }

  async #translateOne(text: string, langpair: string, signal: AbortSignal): Promise<string> {
    // Nothing to translate; APy would answer an empty string and lose the spacing.
    if (text.trim() === "") return text;
    const body = new URLSearchParams({
      langpair,
      q: text,
      // Both checked against APy: `txt` keeps `<b>` and `&` literal (the default `html` would
      // treat them as markup), and without markUnknown=no unknown words come back as `*word`.
      markUnknown: "no",
      format: "txt",
    });
    const translated = await requestJson({
      provider: "apertium",
      url: joinUrl(this.#baseUrl, "translate"),
      body,
      signal,
      parse: parseTranslation,
      mapError: mapApertiumError,
    });
    // APy trims the text; Parley joins masked pieces, so the original edges are put back.
    const lead = text.match(/^\s*/)?.[0] ?? "";
    const trail = text.match(/\s*$/)?.[0] ?? "";
    return lead + translated.trim() + trail;
  }

  async #fetchPairs(): Promise<void> {
    // Its own deadline, cleared when done: a pending timer would outlive the fetch.
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException("listPairs took too long", "TimeoutError")),
      this.#listTimeoutMs,
    );
    Deno.unrefTimer(timer);
    try {
      this.#pairs = await requestJson({
        provider: "apertium",
        url: joinUrl(this.#baseUrl, "listPairs"),
        method: "GET",
        signal: AbortSignal.any([this.#closing.signal, deadline.signal]),
        parse: parsePairs,
        mapError: mapApertiumError,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The installed pair for Parley codes, most specific match first: an exact variant (`en-US` →
 * `eng_US`), then the plain code, then any variant of the same language.
 */
function findPair(
  pairs: readonly ApertiumPair[],
  source: string,
  target: string,
): ApertiumPair | undefined {
  const sources = toApertiumCodes(source);
  const targets = toApertiumCodes(target);
  for (const t of targets) {
    for (const s of sources) {
      const pair = pairs.find((p) => p.source === s && p.target === t);
      if (pair) return pair;
    }
  }
  const sourcePrimaries = new Set(sources.map(apertiumPrimary));
  const targetPrimaries = new Set(targets.map(apertiumPrimary));
  return pairs.find((p) =>
    sourcePrimaries.has(apertiumPrimary(p.source)) && targetPrimaries.has(apertiumPrimary(p.target))
  );
}

/** The language's main Apertium code, without a region variant: `pt-BR` → `por`. */
function plainCode(code: string): string {
  return toApertiumCodes(code).find((c) => !c.includes("_")) ?? code;
}

function parseTranslation(json: unknown): string | undefined {
  if (!isRecord(json) || !isRecord(json.responseData)) return undefined;
  if (json.responseStatus !== undefined && json.responseStatus !== 200) return undefined;
  const text = json.responseData.translatedText;
  return typeof text === "string" ? text : undefined;
}

function parsePairs(json: unknown): ApertiumPair[] | undefined {
  if (!isRecord(json) || !Array.isArray(json.responseData)) return undefined;
  const pairs: ApertiumPair[] = [];
  for (const item of json.responseData) {
    if (
      !isRecord(item) || typeof item.sourceLanguage !== "string" ||
      typeof item.targetLanguage !== "string"
    ) {
      return undefined;
    }
    pairs.push({ source: item.sourceLanguage, target: item.targetLanguage });
  }
  return pairs;
}

/** APy's error body: `{"status":"error","code":400,"message":"Bad Request","explanation":…}`. */
function mapApertiumError({ status, json }: ErrorAnswer): TranslateError | undefined {
  const explanation = isRecord(json) && typeof json.explanation === "string"
    ? json.explanation
    : undefined;
  if (status === 400 && explanation && /pair is not installed/i.test(explanation)) {
    return new TranslateError("unsupported", `apertium: ${explanation}`, { status });
  }
  return undefined;
}
