import { isStorageOutage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/mod.ts";
import type { UntranslatedReason } from "../protocol/types.ts";
import type { Store, TranslationSource } from "../store/store.ts";
import { type BreakerOptions, type BreakerState, CircuitBreaker } from "./breaker.ts";
import { sameLanguage } from "./languages.ts";
import { LruCache } from "./lru.ts";
import { maskText, nothingToTranslate, unmaskText } from "./mask.ts";
import { TranslationMetrics } from "./metrics.ts";
import { type Translated, TranslateError, type Translator } from "./translator.ts";

/** What one reader gets for one message. */
export type TranslationOutcome =
  /** Nothing to do: the reader reads the source language, or there are no words to translate. */
  | { kind: "same" }
  | { kind: "translated"; text: string; source: string; target: string; provider: string }
  /** The original goes out, marked with the reason. */
  | { kind: "untranslated"; reason: UntranslatedReason };

/** The translator's state, for `/healthz` and the log. */
export interface TranslationHealth {
  provider: string;
  /** `off` (no provider), `ok`, `paused` (the breaker is open), `trying` (one trial call). */
  state: "off" | "ok" | "paused" | "trying";
  /** When a paused provider is tried again (ISO time). */
  retryAt?: string;
  lastError?: { at: string; message: string };
}

export interface TranslationServiceOptions {
  /** The provider; none means translation is off and every outcome is `same`. */
  translator?: Translator;
  /** The durable layer of the cache (the store). */
  cache?: Pick<Store, "getTranslations" | "putTranslations">;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** How long a message may wait for its translation. @default 2000 */
  timeoutMs?: number;
  /** Entries in the in-memory cache. @default 10000 */
  memoryEntries?: number;
  breaker?: Omit<BreakerOptions, "onChange">;
}

/** One text waiting in a batch. */
interface Waiting {
  masked: string;
  /** When the last asker stops waiting (performance.now() time): a call after that is wasted. */
  deadline: number;
  resolve: (t: Translated) => void;
  reject: (err: unknown) => void;
}

/** How long a pair the provider refused is not asked again. */
const UNSUPPORTED_MEMORY_MS = 10 * 60_000;

/**
 * Translates messages for readers, whatever the provider: masks what must stay as written,
 * answers from the memory cache, then the store's, batches what is left per target language
 * into as few provider calls as the provider's limits allow, and never lets a slow or failing
 * provider hold a message longer than the timeout. After repeated failures a circuit breaker
 * stops the calls for a while, which the log and `/healthz` report.
 */
/** How long a message may wait for its translation when no timeout is given (`--translate-timeout`). */
export const DEFAULT_TRANSLATE_TIMEOUT_MS = 2000;

export class TranslationService {
  readonly timeoutMs: number;
  readonly metrics: TranslationMetrics;
  #translator: Translator | undefined;
  #cache: TranslationServiceOptions["cache"];
  #logger: Logger;
  #memory: LruCache<Translated>;
  #breaker: CircuitBreaker;
  /** Batches being gathered, by target and source language. */
  #batches = new Map<string, Waiting[]>();
  /** Provider calls in flight, and calls waiting for a slot. */
  #active = 0;
  #queue: (() => void)[] = [];
  /** Translations already asked for, so concurrent askers share one provider call. */
  #inFlight = new Map<string, Promise<Translated>>();
  /** Cache writes not yet settled (see `cacheWritten`). */
  readonly #writes = new Set<Promise<void>>();
  /** The not yet answered entries of `#inFlight`, by the same key. */
  #waiting = new Map<string, Waiting>();
  #unsupported = new Map<string, number>();
  #closed = false;

  constructor(options: TranslationServiceOptions) {
    this.#translator = options.translator;
    this.#cache = options.cache;
    this.#logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TRANSLATE_TIMEOUT_MS;
    this.#memory = new LruCache(options.memoryEntries ?? 10_000, 4_000_000, (t) => t.text.length);
    this.metrics = new TranslationMetrics(options.metrics, this.provider, () => this.health());
    this.#breaker = new CircuitBreaker({
      ...options.breaker,
      onChange: (state, detail) => this.#breakerChanged(state, detail),
    });
  }

  /** The provider's name, or `off`. */
  get provider(): string {
    return this.#translator?.name ?? "off";
  }

  /**
   * Translates one message into each of `targets` (the distinct languages of its readers), at
   * most one provider call per language, all within the timeout.
   */
  async translate(
    text: string,
    source: string | undefined,
    targets: Iterable<string>,
  ): Promise<Map<string, TranslationOutcome>> {
    const langs = [...new Set(targets)];
    const outcomes = await Promise.all(langs.map((t) => this.#one(text, source, t)));
    return new Map(langs.map((t, i) => [t, outcomes[i]]));
  }

  /**
   * Settles once the translations made so far are in the store's cache: another node reading
   * the cache after this finds them, and calls no provider for them.
   */
  async cacheWritten(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }

  /** Translates several messages into one language (stored messages replayed to a reader). */
  translateMany(
    items: readonly { text: string; source?: string }[],
    target: string,
  ): Promise<TranslationOutcome[]> {
    return Promise.all(items.map((m) => this.#one(m.text, m.source, target)));
  }

  health(): TranslationHealth {
    if (!this.#translator) return { provider: "off", state: "off" };
    const state = this.#breaker.state;
    const failure = this.#breaker.lastFailure;
    const retryAt = this.#breaker.retryAt;
    return {
      provider: this.provider,
      state: state === "closed" ? "ok" : state === "open" ? "paused" : "trying",
      ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}),
      ...(failure
        ? { lastError: { at: new Date(failure.at).toISOString(), message: failure.message } }
        : {}),
    };
  }

  /**
   * The languages users may choose: the provider's, when it can say; undefined otherwise (no
   * provider, or one that does not list its languages), and then ISO 639-1 is the rule.
   */
  languages(): ReadonlySet<string> | undefined {
    return this.#translator?.languages?.();
  }

  /** Stops the provider's background work; pending translations finish or time out. */
  close(): void {
    this.#closed = true;
    this.#translator?.close?.();
  }

  async #one(
    text: string,
    source: string | undefined,
    target: string,
  ): Promise<TranslationOutcome> {
    const translator = this.#translator;
    if (!translator || (source !== undefined && sameLanguage(source, target))) {
      return { kind: "same" };
    }
    const { text: masked, tokens } = maskText(text);
    if (nothingToTranslate(masked)) return { kind: "same" };
    const key = cacheKey(target, source, masked);
    let result = this.#memory.get(key);
    if (result) {
      this.metrics.cache("memory");
    } else {
      const pair = `${source ?? ""}|${target}`;
      if (
        translator.supports?.(source, target) === false ||
        (this.#unsupported.get(pair) ?? 0) > Date.now()
      ) {
        return this.#untranslated("unsupported");
      }
      if (this.#breaker.state === "open" || this.#closed) return this.#untranslated("paused");
      try {
        result = await this.#withDeadline(this.#fetch(key, masked, source, target));
      } catch (err) {
        const reason = reasonOf(err);
        if (reason === "unsupported") {
          this.#unsupported.set(pair, Date.now() + UNSUPPORTED_MEMORY_MS);
        }
        return this.#untranslated(reason);
      }
    }
    if (result.detectedSource && sameLanguage(result.detectedSource, target)) {
      return { kind: "same" };
    }
    const restored = unmaskText(result.text, tokens);
    if (restored === undefined) return this.#untranslated("protected");
    if (restored === text) return { kind: "same" };
    return {
      kind: "translated",
      text: restored,
      source: source ?? result.detectedSource ?? "und",
      target,
      provider: translator.name,
    };
  }

  #untranslated(reason: UntranslatedReason): TranslationOutcome {
    this.metrics.untranslated(reason);
    return { kind: "untranslated", reason };
  }

  /** Resolves within the timeout, or rejects with a `timeout` TranslateError. */
  #withDeadline<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TranslateError("timeout", `no translation within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  /** One masked text from the store or the provider, shared by everyone asking at once. */
  #fetch(
    key: string,
    masked: string,
    source: string | undefined,
    target: string,
  ): Promise<Translated> {
    const deadline = performance.now() + this.timeoutMs;
    let pending = this.#inFlight.get(key);
    if (pending) {
      // A new asker waits as long as its own timeout: the call is worth making until then.
      const waiting = this.#waiting.get(key);
      if (waiting) waiting.deadline = Math.max(waiting.deadline, deadline);
      return pending;
    }
    pending = new Promise<Translated>((resolve, reject) => {
      const batchKey = `${target}\u0000${source ?? ""}`;
      let batch = this.#batches.get(batchKey);
      if (!batch) {
        this.#batches.set(batchKey, batch = []);
        // Everything asked for in this turn of the event loop goes out together.
        setTimeout(() => this.#flush(batchKey, source, target), 0);
      }
      const waiting: Waiting = { masked, deadline, resolve, reject };
      this.#waiting.set(key, waiting);
      batch.push(waiting);
    });
    this.#inFlight.set(key, pending);
    pending.then((t) => this.#memory.set(key, t), () => {}).finally(() => {
      this.#inFlight.delete(key);
      this.#waiting.delete(key);
    });
    return pending;
  }

  async #flush(batchKey: string, source: string | undefined, target: string): Promise<void> {
    const batch = this.#batches.get(batchKey) ?? [];
    this.#batches.delete(batchKey);
    const translator = this.#translator!;
    let misses = batch;
    if (this.#cache) {
      try {
        const sources: TranslationSource[] = batch.map((w) => ({ text: w.masked, lang: source }));
        const found = await this.#cache.getTranslations(translator.name, target, sources);
        misses = [];
        batch.forEach((w, i) => {
          const hit = found[i];
          if (hit) {
            this.metrics.cache("store");
            w.resolve(hit);
          } else misses.push(w);
        });
      } catch (err) {
        this.#logger.warn("translation cache read failed", { error: err });
      }
    }
    if (misses.length) this.metrics.cache("miss", misses.length);
    for (const chunk of chunks(misses, translator.limits)) void this.#call(chunk, source, target);
  }

  /** One provider call for a chunk, when a slot is free and the breaker allows it. */
  async #call(chunk: Waiting[], source: string | undefined, target: string): Promise<void> {
    const translator = this.#translator!;
    await this.#slot(translator.limits.concurrency);
    // Texts everyone stopped waiting for while the call waited for a slot are not sent.
    const now = performance.now();
    const expired = chunk.filter((w) => w.deadline <= now);
    for (const w of expired) w.reject(new TranslateError("timeout", "no slot in time"));
    chunk = chunk.filter((w) => w.deadline > now);
    if (chunk.length === 0) return this.#release();
    if (this.#closed || !this.#breaker.allow()) {
      this.#release();
      for (const w of chunk) w.reject(new ProviderPaused());
      return;
    }
    const started = performance.now();
    const wait = Math.max(...chunk.map((w) => w.deadline)) - started;
    try {
      const results = await translator.translate({
        texts: chunk.map((w) => w.masked),
        target,
        source,
        signal: AbortSignal.timeout(Math.max(1, Math.min(this.timeoutMs, wait))),
      });
      if (results.length !== chunk.length) {
        throw new TranslateError(
          "bad_response",
          `${results.length} translations for ${chunk.length} texts`,
        );
      }
      this.#breaker.success();
      this.metrics.call(translator.name, "ok", chunk.length, performance.now() - started);
      chunk.forEach((w, i) => w.resolve(results[i]));
      const write = this.#cache?.putTranslations(
        translator.name,
        target,
        chunk.map((w, i) => ({
          source: { text: w.masked, lang: source },
          translation: results[i],
        })),
      ).catch((err) => {
        // A full disk or a lost database is logged once per episode by the store's tracking.
        if (!isStorageOutage(err)) {
          this.#logger.warn("translation cache write failed", { error: err });
        }
      });
      if (write) {
        this.#writes.add(write);
        void write.finally(() => this.#writes.delete(write));
      }
    } catch (err) {
      const code = err instanceof TranslateError ? err.code : "unavailable";
      this.metrics.call(translator.name, code, chunk.length, performance.now() - started);
      if (err instanceof TranslateError && err.connectionLost) {
        this.metrics.connectionLost(translator.name);
      }
      // An unsupported pair is an answer: the provider is up (and a trial call succeeded).
      if (code === "unsupported") this.#breaker.success();
      else {
        this.#breaker.failure(err);
        this.#logger.warn("translation failed", {
          provider: translator.name,
          target,
          texts: chunk.length,
          code,
          error: (err as Error).message,
        });
      }
      for (const w of chunk) w.reject(err);
    } finally {
      this.#release();
    }
  }

  #slot(limit: number): Promise<void> {
    if (this.#active < limit) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#active--;
  }

  #breakerChanged(state: BreakerState, detail: { pauseMs?: number; cause?: unknown }): void {
    const provider = this.provider;
    if (state === "open") {
      this.#logger.warn(
        `translation paused: ${provider} failed repeatedly; messages go out untranslated`,
        {
          provider,
          pauseSeconds: Math.round((detail.pauseMs ?? 0) / 1000),
          error: (detail.cause as Error)?.message,
        },
      );
    } else if (state === "half-open") {
      this.#logger.info(`translation: trying ${provider} again`, { provider });
    } else {
      this.#logger.info(`translation resumed: ${provider} answers again`, { provider });
    }
  }
}

function cacheKey(target: string, source: string | undefined, masked: string): string {
  return `${target}\u0000${source ?? ""}\u0000${masked}`;
}

/** A call not made because the circuit breaker is open. */
class ProviderPaused extends Error {
  constructor() {
    super("the translation provider is paused after repeated failures");
  }
}

function reasonOf(err: unknown): UntranslatedReason {
  if (err instanceof ProviderPaused) return "paused";
  if (!(err instanceof TranslateError)) return "unavailable";
  if (err.code === "timeout") return "timeout";
  if (err.code === "unsupported") return "unsupported";
  return "unavailable";
}

/** Splits a batch by the provider's limits on texts and characters per call. */
function chunks(
  items: Waiting[],
  limits: { maxTexts: number; maxChars: number },
): Waiting[][] {
  const out: Waiting[][] = [];
  let current: Waiting[] = [];
  let chars = 0;
  for (const w of items) {
    const size = w.masked.length;
    if (current.length && (current.length >= limits.maxTexts || chars + size > limits.maxChars)) {
      out.push(current);
      current = [];
      chars = 0;
    }
    current.push(w);
    chars += size;
  }
  if (current.length) out.push(current);
  return out;
}
