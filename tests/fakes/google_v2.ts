/**
 * A loopback stand-in for Google Cloud Translation v2 (Basic), for tests: Google itself needs a
 * billed key and the internet. It speaks the documented REST surface
 * (`POST /language/translate/v2?key=…`, JSON or query parameters, `{"data":{"translations":…}}`
 * answers, `{"error":{…}}` failures), records every request, and can be told to fail.
 *
 * Translation is deterministic so tests can predict it: `fakeGoogleTranslation("Hi", "es")` is
 * `es:Hi`. Without a `source`, the language is "detected" (`en`, or the prefix of a text that is
 * already a fake translation) and reported as `detectedSourceLanguage`, as Google does.
 */

/** What a call to the fake can be made to do instead of translating. */
export type GoogleFailure =
  /** 400 "API key not valid" (reason badRequest, API_KEY_INVALID), as for a wrong key. */
  | "bad_key"
  /** 403 "Cloud Translation API has not been used in project … or it is disabled". */
  | "forbidden"
  /** 403 "Daily Limit Exceeded" (reason dailyLimitExceeded). */
  | "quota"
  /** 403 "User Rate Limit Exceeded" (reason userRateLimitExceeded). */
  | "user_rate_limit"
  /** 429 RESOURCE_EXHAUSTED. */
  | "rate_limit"
  /** 400 "Bad language pair: xx|yy". */
  | "bad_pair"
  /** 500 INTERNAL. */
  | "server_error"
  /** 503 UNAVAILABLE. */
  | "unavailable"
  /** Never answers; the request ends when the client gives up or the fake closes. */
  | "hang"
  /** 200 with a body that is not JSON. */
  | "malformed"
  /** 200 with JSON of the wrong shape. */
  | "wrong_shape"
  /** 200 with one translation fewer than texts sent. */
  | "wrong_count";

/** One request as the fake understood it. */
export interface GoogleRequest {
  method: string;
  path: string;
  /** The `key` query parameter (null when absent). */
  key: string | null;
  contentType: string | null;
  /** `q` as a list, whether it was sent as a string or a list. */
  q: string[];
  target?: string;
  source?: string;
  format?: string;
  /** The failure this request got, when one was queued. */
  failure?: GoogleFailure;
}

export interface FakeGoogleOptions {
  /** The one key accepted; defaults to `fake-google-key`. */
  apiKey?: string;
  /** Target languages accepted (others get 400 "Invalid Value"); defaults to a common set. */
  languages?: readonly string[];
  /** Replaces the default `target:text` translation. */
  translate?: (text: string, target: string, source: string | undefined) => string;
  /** Replaces the default detection (`en`, or the prefix of a fake translation). */
  detect?: (text: string) => string;
}

export interface FakeGoogle {
  /** The base URL to give `GoogleTranslator` (`http://127.0.0.1:PORT`). */
  url: string;
  apiKey: string;
  /** Every request, in arrival order (failed ones too). */
  requests: GoogleRequest[];
  /** Makes the next `n` calls (default 1) fail with `kind`, after any already queued. */
  failNext(kind: GoogleFailure, n?: number): void;
  /** Delays every answer by `ms` (0 to stop), to test deadlines and concurrency. */
  setDelay(ms: number): void;
  /** Calls being handled right now (hanging or delayed ones included). */
  inFlight(): number;
  /** Ends hanging calls and stops the server. */
  close(): Promise<void>;
}

const PATH = "/language/translate/v2";
const MAX_SEGMENTS = 128;

/** A common set of Google v2 target codes (it accepts BCP-47 region forms too). */
export const FAKE_GOOGLE_LANGUAGES: readonly string[] = [
  "ar",
  "de",
  "en",
  "es",
  "fr",
  "he",
  "hi",
  "it",
  "ja",
  "ko",
  "nl",
  "pl",
  "pt",
  "pt-BR",
  "pt-PT",
  "ru",
  "sv",
  "tr",
  "uk",
  "zh",
  "zh-CN",
  "zh-TW",
]; // deno-fmt-ignore

/** The fake's translation of `text` into `target`: `es:Hello`. */
export function fakeGoogleTranslation(text: string, target: string): string {
  return `${target}:${text}`;
}

/** The fake's detection: the prefix of an earlier fake translation, else `en`. */
export function fakeGoogleDetect(text: string): string {
  return text.match(/^([a-z]{2,3}(?:-[A-Za-z]{2,4})?):/)?.[1] ?? "en";
}

/** Starts the fake on a free loopback port. */
export function startFakeGoogle(options: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const apiKey = options.apiKey ?? "fake-google-key";
  const languages = new Set(options.languages ?? FAKE_GOOGLE_LANGUAGES);
  const translate = options.translate ?? ((text, target) => fakeGoogleTranslation(text, target));
  const detect = options.detect ?? fakeGoogleDetect;
  const requests: GoogleRequest[] = [];
  const failures: GoogleFailure[] = [];
  // Aborted at close, so hanging and delayed handlers finish and shutdown() can return.
  const closing = new AbortController();
  let delayMs = 0;
  let inFlight = 0;

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const contentType = req.headers.get("content-type");
    const params = await readParams(req, url, contentType);
    const record: GoogleRequest = {
      method: req.method,
      path: url.pathname,
      key: url.searchParams.get("key"),
      contentType,
      q: params.ok ? params.q : [],
      target: params.ok ? params.target : undefined,
      source: params.ok ? params.source : undefined,
      format: params.ok ? params.format : undefined,
    };
    requests.push(record);

    if (url.pathname !== PATH) return new Response("Not Found", { status: 404 });
    if (req.method !== "POST" && req.method !== "GET") {
      return googleError(405, "Method Not Allowed", "badRequest", "INVALID_ARGUMENT");
    }
    const failure = failures.shift();
    if (failure) record.failure = failure;
    if (delayMs > 0 || failure === "hang") {
      // Not req.signal: Deno aborts it on every finished response too; close() ends the wait.
      await waitFor(failure === "hang" ? Infinity : delayMs, closing.signal);
      if (failure === "hang" || closing.signal.aborted) {
        return new Response("closed", { status: 503 });
      }
    }
    if (failure) return failureResponse(failure, params.ok ? params : undefined);

    if (record.key === null) {
      return googleError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). " +
          "Please use API Key or other form of API consumer identity to call this API.",
        "forbidden",
        "PERMISSION_DENIED",
      );
    }
    if (record.key !== apiKey) return failureResponse("bad_key");
    if (!params.ok) return googleError(400, params.message, "parseError", "INVALID_ARGUMENT");
    if (params.q.length === 0) return googleError(400, "Required Text", "required");
    if (!params.target) return googleError(400, "Required Target", "required");
    if (params.q.length > MAX_SEGMENTS) {
      return googleError(400, "Too many text segments", "badRequest", "INVALID_ARGUMENT");
    }
    if (!languages.has(params.target)) return googleError(400, "Invalid Value", "invalid");
    if (params.source !== undefined && !languages.has(params.source)) {
      return googleError(400, "Invalid Value", "invalid");
    }

    const translations = params.q.map((text) => {
      let out = translate(text, params.target!, params.source);
      // Google's default format is html: it answers with entities. Tests catch a missing
      // format=text by this.
      if (params.format !== "text") out = escapeHtmlText(out);
      return params.source === undefined
        ? { translatedText: out, detectedSourceLanguage: detect(text) }
        : { translatedText: out };
    });
    return Response.json({ data: { translations } });
  };

  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen() {},
  }, async (req) => {
    inFlight++;
    try {
      return await handle(req);
    } finally {
      inFlight--;
    }
  });

  // A Promise although listening is synchronous, so callers need not change if it ever is not.
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    apiKey,
    requests,
    failNext(kind, n = 1) {
      for (let i = 0; i < n; i++) failures.push(kind);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    inFlight: () => inFlight,
    async close() {
      closing.abort();
      await server.shutdown();
    },
  });
}

type Params =
  | { ok: true; q: string[]; target?: string; source?: string; format?: string }
  | { ok: false; message: string };

/** Google takes the parameters from the query string and from a JSON or form body alike. */
async function readParams(req: Request, url: URL, contentType: string | null): Promise<Params> {
  const q: string[] = url.searchParams.getAll("q");
  const fields: Record<string, string | undefined> = {
    target: url.searchParams.get("target") ?? undefined,
    source: url.searchParams.get("source") ?? undefined,
    format: url.searchParams.get("format") ?? undefined,
  };
  const text = req.body ? await req.text() : "";
  if (text !== "") {
    if (contentType?.startsWith("application/json")) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return { ok: false, message: "Invalid JSON payload received." };
      }
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        return { ok: false, message: "Invalid JSON payload received." };
      }
      const b = body as Record<string, unknown>;
      if (typeof b.q === "string") q.push(b.q);
      else if (Array.isArray(b.q)) {
        for (const item of b.q) {
          if (typeof item !== "string") {
            return { ok: false, message: "Invalid value at 'q' (TYPE_STRING)" };
          }
          q.push(item);
        }
      }
      for (const name of ["target", "source", "format"]) {
        if (typeof b[name] === "string") fields[name] = b[name] as string;
      }
    } else if (contentType?.startsWith("application/x-www-form-urlencoded")) {
      const form = new URLSearchParams(text);
      q.push(...form.getAll("q"));
      for (const name of ["target", "source", "format"]) {
        fields[name] ??= form.get(name) ?? undefined;
      }
    } else {
      return { ok: false, message: `Invalid content type: ${contentType}` };
    }
  }
  return { ok: true, q, target: fields.target, source: fields.source, format: fields.format };
}

function failureResponse(
  kind: GoogleFailure,
  params?: { target?: string; source?: string; q: string[] },
): Response {
  switch (kind) {
    case "bad_key":
      return googleError(
        400,
        "API key not valid. Please pass a valid API key.",
        "badRequest",
        "INVALID_ARGUMENT",
        [{
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
          metadata: { service: "translate.googleapis.com" },
        }],
      );
    case "forbidden":
      return googleError(
        403,
        "Cloud Translation API has not been used in project 1234 before or it is disabled.",
        "accessNotConfigured",
        "PERMISSION_DENIED",
      );
    case "quota":
      return googleError(403, "Daily Limit Exceeded", "dailyLimitExceeded", undefined, undefined, {
        domain: "usageLimits",
      });
    case "user_rate_limit":
      return googleError(
        403,
        "User Rate Limit Exceeded",
        "userRateLimitExceeded",
        undefined,
        undefined,
        { domain: "usageLimits" },
      );
    case "rate_limit":
      return googleError(
        429,
        "Quota exceeded for quota metric 'v2 and v3 general model characters' and limit " +
          "'v2 and v3 general model characters per minute per user'.",
        "rateLimitExceeded",
        "RESOURCE_EXHAUSTED",
      );
    case "bad_pair":
      return googleError(
        400,
        `Bad language pair: ${params?.source ?? "en"}|${params?.target ?? "xx"}`,
        "badRequest",
        "INVALID_ARGUMENT",
      );
    case "server_error":
      return googleError(500, "Internal error encountered.", "backendError", "INTERNAL");
    case "unavailable":
      return googleError(
        503,
        "The service is currently unavailable.",
        "backendError",
        "UNAVAILABLE",
      );
    case "malformed":
      return new Response('{"data": {"translations": [', {
        headers: { "content-type": "application/json; charset=UTF-8" },
      });
    case "wrong_shape":
      return Response.json({ translations: (params?.q ?? []).map((t) => ({ text: t })) });
    case "wrong_count":
      return Response.json({
        data: {
          translations: (params?.q ?? []).slice(1).map((t) => ({ translatedText: t })),
        },
      });
    case "hang":
      throw new Error("unreachable: hang is handled before");
  }
}

/** Google's documented error body. */
function googleError(
  code: number,
  message: string,
  reason: string,
  status?: string,
  details?: unknown[],
  extra: { domain?: string } = {},
): Response {
  const error: Record<string, unknown> = {
    code,
    message,
    errors: [{ message, domain: extra.domain ?? "global", reason }],
  };
  if (status) error.status = status;
  if (details) error.details = details;
  return Response.json({ error }, { status: code });
}

function escapeHtmlText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/'/g, "&#39;").replace(/"/g, "&quot;");
}

/** Resolves after `ms`, or as soon as either signal aborts. */
function waitFor(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve();
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      for (const s of signals) s.removeEventListener("abort", done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    for (const s of signals) s.addEventListener("abort", done);
  });
}
