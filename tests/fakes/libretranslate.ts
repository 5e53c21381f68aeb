/**
 * A loopback stand-in for a LibreTranslate server, for tests (a real one needs Python, Argos
 * models and gigabytes of disk). It speaks `POST /translate` as LibreTranslate does: JSON or form
 * bodies, `q` as a string or a list, `source: "auto"` with `detectedLanguage`, `{"error": …}`
 * failures with its own messages; records every request and can be told to fail.
 *
 * Translation is deterministic: `fakeLibreTranslation("Hi", "es")` is `es:Hi`. Detection answers
 * `en` (or the prefix of a text that is already a fake translation).
 */

/** What a call to the fake can be made to do instead of translating. */
export type LibreFailure =
  /** 403 "Invalid API key". */
  | "bad_key"
  /** 403 "Too many request limits violations" (the flood guard's ban). */
  | "banned"
  /** 429 "Slowdown: …". */
  | "rate_limit"
  /** 400 "xx is not supported". */
  | "unsupported"
  /** 500 "Cannot translate text: …". */
  | "server_error"
  /** Never answers; the request ends when the client gives up or the fake closes. */
  | "hang"
  /** 200 with a body that is not JSON. */
  | "malformed"
  /** 200 with one translation fewer than texts sent. */
  | "wrong_count";

/** One request as the fake understood it. */
export interface LibreRequest {
  method: string;
  path: string;
  contentType: string | null;
  /** As sent: a string or a list. */
  q: string | string[] | undefined;
  source?: string;
  target?: string;
  format?: string;
  apiKey?: string;
  failure?: LibreFailure;
}

export interface FakeLibreOptions {
  /** When set, every call must carry this `api_key` (as with `--api-keys --require-api-key-*`). */
  apiKey?: string;
  /** Language codes installed; defaults to a common set (LibreTranslate's own codes). */
  languages?: readonly string[];
  /** `--batch-limit`; defaults to 50. */
  batchLimit?: number;
  /** `--char-limit`; defaults to 5000. */
  charLimit?: number;
}

export interface FakeLibreTranslate {
  /** The base URL to give `LibreTranslateTranslator`. */
  url: string;
  requests: LibreRequest[];
  /** Makes the next `n` calls (default 1) fail with `kind`, after any already queued. */
  failNext(kind: LibreFailure, n?: number): void;
  /** Ends hanging calls and stops the server. */
  close(): Promise<void>;
}

/** Codes as LibreTranslate names them (`pb` Brazilian Portuguese, `zt` Traditional Chinese). */
export const FAKE_LIBRE_LANGUAGES: readonly string[] = [
  "ar",
  "de",
  "en",
  "es",
  "fr",
  "it",
  "ja",
  "ko",
  "nl",
  "pb",
  "pl",
  "pt",
  "ru",
  "zh",
  "zt",
]; // deno-fmt-ignore

/** The fake's translation of `text` into `target`: `es:Hello`. */
export function fakeLibreTranslation(text: string, target: string): string {
  return `${target}:${text}`;
}

function detect(text: string): string {
  return text.match(/^([a-z]{2}):/)?.[1] ?? "en";
}

/** Starts the fake on a free loopback port. */
export function startFakeLibreTranslate(
  options: FakeLibreOptions = {},
): Promise<FakeLibreTranslate> {
  const languages = new Set(options.languages ?? FAKE_LIBRE_LANGUAGES);
  const batchLimit = options.batchLimit ?? 50;
  const charLimit = options.charLimit ?? 5000;
  const requests: LibreRequest[] = [];
  const failures: LibreFailure[] = [];
  const closing = new AbortController();

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/languages") {
      const codes = [...languages];
      return Response.json(codes.map((code) => ({ code, name: code, targets: codes })));
    }
    const contentType = req.headers.get("content-type");
    const fields = await readFields(req, contentType);
    const record: LibreRequest = {
      method: req.method,
      path: url.pathname,
      contentType,
      q: fields?.q,
      source: fields?.source,
      target: fields?.target,
      format: fields?.format,
      apiKey: fields?.api_key,
    };
    requests.push(record);
    if (url.pathname !== "/translate" || req.method !== "POST") {
      return new Response("Not Found", { status: 404 });
    }
    if (!fields) return error(400, "Invalid JSON format");

    const failure = failures.shift();
    if (failure) {
      record.failure = failure;
      return await failureResponse(failure, fields, closing.signal);
    }

    if (options.apiKey !== undefined) {
      if (fields.api_key && fields.api_key !== options.apiKey) return error(403, "Invalid API key");
      if (!fields.api_key) {
        return error(400, "Please contact the server operator to get an API key");
      }
    }
    const { q, source, target } = fields;
    if (!q || (Array.isArray(q) && q.length === 0)) {
      return error(400, "Invalid request: missing q parameter");
    }
    if (!source) return error(400, "Invalid request: missing source parameter");
    if (!target) return error(400, "Invalid request: missing target parameter");
    const texts = typeof q === "string" ? [q] : q;
    if (Array.isArray(q) && q.length > batchLimit) {
      return error(
        400,
        `Invalid request: request (${q.length}) exceeds text limit (${batchLimit})`,
      );
    }
    const chars = texts.reduce((n, t) => n + t.length, 0);
    if (chars > charLimit) {
      return error(400, `Invalid request: request (${chars}) exceeds text limit (${charLimit})`);
    }
    const detected = texts.map((t) => ({
      confidence: 90,
      language: source === "auto" ? detect(t) : source,
    }));
    for (const d of detected) {
      if (!languages.has(d.language)) {
        return error(400, `${source === "auto" ? JSON.stringify(d) : d.language} is not supported`);
      }
    }
    if (!languages.has(target)) return error(400, `${target} is not supported`);
    if (fields.format && fields.format !== "text" && fields.format !== "html") {
      return error(400, `${fields.format} format is not supported`);
    }
    const out = texts.map((t) => fakeLibreTranslation(t, target));
    const body: Record<string, unknown> = { translatedText: typeof q === "string" ? out[0] : out };
    if (source === "auto") body.detectedLanguage = typeof q === "string" ? detected[0] : detected;
    return Response.json(body);
  };

  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, handle);
  // A Promise although listening is synchronous, so callers need not change if it ever is not.
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    failNext(kind, n = 1) {
      for (let i = 0; i < n; i++) failures.push(kind);
    },
    async close() {
      closing.abort();
      await server.shutdown();
    },
  });
}

interface Fields {
  q?: string | string[];
  source?: string;
  target?: string;
  format?: string;
  api_key?: string;
}

/** LibreTranslate reads JSON bodies, and form fields otherwise. Undefined: bad JSON. */
async function readFields(req: Request, contentType: string | null): Promise<Fields | undefined> {
  const text = req.body ? await req.text() : "";
  if (contentType?.startsWith("application/json")) {
    try {
      const body = JSON.parse(text);
      if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
      const pick = (v: unknown) => typeof v === "string" ? v : undefined;
      const q = typeof body.q === "string" || Array.isArray(body.q) ? body.q : undefined;
      return {
        q,
        source: pick(body.source),
        target: pick(body.target),
        format: pick(body.format),
        api_key: pick(body.api_key),
      };
    } catch {
      return undefined;
    }
  }
  const form = new URLSearchParams(text);
  const get = (name: string) => form.get(name) ?? undefined;
  return {
    q: get("q"),
    source: get("source"),
    target: get("target"),
    format: get("format"),
    api_key: get("api_key"),
  };
}

async function failureResponse(
  kind: LibreFailure,
  fields: Fields,
  ...signals: AbortSignal[]
): Promise<Response> {
  switch (kind) {
    case "bad_key":
      return error(403, "Invalid API key");
    case "banned":
      return error(403, "Too many request limits violations");
    case "rate_limit":
      return error(429, "Slowdown: 10 per 1 minute");
    case "unsupported":
      return error(400, `${fields.target ?? "xx"} is not supported`);
    case "server_error":
      return error(500, "Cannot translate text: the model crashed");
    case "malformed":
      return new Response("<html>Bad Gateway?</html>", {
        headers: { "content-type": "application/json" },
      });
    case "wrong_count": {
      const texts = typeof fields.q === "string" ? [fields.q] : fields.q ?? [];
      return Response.json({ translatedText: texts.slice(1) });
    }
    case "hang":
      await untilAborted(signals);
      return new Response("closed", { status: 503 });
  }
}

function error(status: number, message: string): Response {
  return Response.json({ error: message }, { status });
}

function untilAborted(signals: AbortSignal[]): Promise<void> {
  if (signals.some((s) => s.aborted)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      for (const s of signals) s.removeEventListener("abort", done);
      resolve();
    };
    for (const s of signals) s.addEventListener("abort", done);
  });
}
