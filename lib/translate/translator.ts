/**
 * The translation provider interface. A provider turns a batch of texts into one language with
 * one call to its service; everything around that (masking, caching, batching, timeouts, the
 * circuit breaker, metrics) is done once, in `./service.ts`, for every provider.
 */

/** Names of the providers Parley ships; `none` delivers messages as written. */
export const PROVIDER_NAMES = ["google", "apertium", "libretranslate", "none"] as const;
export type ProviderName = typeof PROVIDER_NAMES[number];

/** One provider call: every text goes into `target`. */
export interface TranslateRequest {
  /** Plain text (masked by the caller: placeholders such as `⟦0⟧` must come back unchanged). */
  texts: string[];
  /** Language code of the reader, as Parley stores it (`en`, `es`, `pt-BR`). */
  target: string;
  /** The sender's language; undefined lets a provider that can detect do so. */
  source?: string;
  /** Aborted when the caller's deadline passes. */
  signal: AbortSignal;
}

/** One translated text, in the order of the request's `texts`. */
export interface Translated {
  text: string;
  /** The source language the provider detected, when it reports one (Parley's form: `en`). */
  detectedSource?: string;
}

/** How much one call may carry, from the provider's documented limits. */
export interface BatchLimits {
  /** Texts per call (Google v2: 128; Apertium APy: 1). */
  maxTexts: number;
  /** Characters (UTF-16 code units) per call, all texts together. */
  maxChars: number;
  /** Calls in flight at once to this provider. */
  concurrency: number;
}

/**
 * Why a call failed. `unsupported` (the provider cannot translate this pair) is an answer, not a
 * fault: it does not count towards the circuit breaker. Every other code does.
 */
export type TranslateErrorCode =
  /** The API key was refused (Google 400 "API key not valid", LibreTranslate 403). */
  | "bad_key"
  /** A daily or per-minute quota is spent (Google 403). */
  | "quota"
  /** Too many requests (HTTP 429). */
  | "rate_limited"
  /** The provider cannot translate between these languages. */
  | "unsupported"
  /** The provider answered 5xx, or the connection failed. */
  | "unavailable"
  /** The caller's deadline passed before the answer came. */
  | "timeout"
  /** The answer could not be understood (not JSON, wrong shape, wrong count). */
  | "bad_response";

/** A failed provider call. `message` is for the log and may hold the provider's own words. */
export class TranslateError extends Error {
  readonly code: TranslateErrorCode;
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /**
   * The connection closed (or was reset) after the request went out and before the whole
   * answer came. The call is not sent again: the provider may have done (and billed) it.
   */
  readonly connectionLost: boolean;

  constructor(
    code: TranslateErrorCode,
    message: string,
    options?: { status?: number; cause?: unknown; connectionLost?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TranslateError";
    this.code = code;
    this.status = options?.status;
    this.connectionLost = options?.connectionLost ?? false;
  }
}

/** A translation provider. */
export interface Translator {
  readonly name: ProviderName;
  readonly limits: BatchLimits;
  /**
   * Translates `request.texts` into `request.target` in one call to the provider. The result has
   * one entry per text, in order.
   * @throws {TranslateError} for every failure, never another error type.
   */
  translate(request: TranslateRequest): Promise<Translated[]>;
  /**
   * Whether the provider can translate from `source` to `target`; undefined when it cannot tell
   * in advance (then the call is made and may fail with `unsupported`). Cheap: answers from what
   * the provider learned earlier (Apertium's `/listPairs`), never waits on the network.
   */
  supports?(source: string | undefined, target: string): boolean | undefined;
  /**
   * The languages the provider translates from or into, as primary subtags (`en`, `ast`);
   * undefined when it cannot say (yet). Cheap, like `supports`: what it learned earlier.
   */
  languages?(): ReadonlySet<string> | undefined;
  /** Stops background work (a pair list refresh); idempotent. */
  close?(): void;
}
