/**
 * The one way providers talk HTTP: a JSON (or form) request under the caller's AbortSignal, with
 * every failure turned into a `TranslateError`. Providers add only what their service means by a
 * status and body (a refused key, a spent quota, an unknown language pair).
 */
import { TranslateError } from "../translator.ts";

/** What a provider's error mapper sees of a non-2xx answer. */
export interface ErrorAnswer {
  status: number;
  /** The body parsed as JSON, or undefined when it was not JSON. */
  json: unknown;
  /** The raw body, for providers whose errors are text. */
  text: string;
}

/** One request to a provider. */
export interface JsonRequest<T> {
  /** Names the provider in error messages (`google`). */
  provider: string;
  url: string | URL;
  method?: "GET" | "POST";
  /** Sent as JSON, or form-encoded when it is URLSearchParams (Apertium APy). */
  body?: unknown;
  signal: AbortSignal;
  /** Strings that must never reach an error message (API keys). */
  secrets?: readonly (string | undefined)[];
  /** Checks and narrows a 2xx body; undefined means the shape is wrong (`bad_response`). */
  parse: (json: unknown) => T | undefined;
  /**
   * Turns a non-2xx answer into the provider's own error, or undefined to use the generic
   * mapping (429 → rate_limited, 5xx → unavailable, anything else → bad_response).
   */
  mapError?: (answer: ErrorAnswer) => TranslateError | undefined;
}

// How Deno's fetch says a connection ended under a request it had sent (hyper's "connection
// closed before message completed", a reset, a broken pipe).
const CONNECTION_LOST =
  /connection closed before message completed|connection reset|broken pipe|os error (104|32)\b/i;

// Enough of a provider's error body to explain a failure in a log line, not a whole HTML page.
const MAX_DETAIL_CHARS = 300;

/**
 * Sends `request` and returns its parsed body.
 * @throws {TranslateError} for every failure, with any secret redacted from the message.
 */
export async function requestJson<T>(request: JsonRequest<T>): Promise<T> {
  const { provider, signal } = request;
  const redact = redactor(request.secrets ?? []);
  if (signal.aborted) throw timeoutError(provider, signal);

  // A client of its own that keeps no idle connection: Deno's fetch sends a request again, once,
  // when a kept-alive connection from its pool turns out closed, even when the provider had
  // received (and billed) it; on a fresh connection it never does. So every call is sent once.
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  let response: Response;
  let text: string;
  try {
    try {
      // Deno's own RequestInit field; the DOM typing of fetch does not list it.
      const init: RequestInit & { client: Deno.HttpClient } = {
        method: request.method ?? (request.body === undefined ? "GET" : "POST"),
        headers: headersFor(request.body),
        body: bodyFor(request.body),
        signal,
        client,
      };
      response = await fetch(request.url, init);
    } catch (err) {
      if (signal.aborted) throw timeoutError(provider, signal);
      // Deno's network errors name the URL, and the URL may carry the key: no raw cause here.
      const why = describe(err);
      throw new TranslateError("unavailable", redact(`${provider}: request failed: ${why}`), {
        connectionLost: CONNECTION_LOST.test(why),
      });
    }
    try {
      // Read the whole body in every case, so the connection is released (and tests'
      // sanitizers see no open resource).
      text = await response.text();
    } catch (err) {
      if (signal.aborted) throw timeoutError(provider, signal);
      throw new TranslateError(
        "unavailable",
        redact(`${provider}: the answer was cut off: ${describe(err)}`),
        { status: response.status, connectionLost: true },
      );
    }
  } finally {
    client.close();
  }
  const json = parseJson(text);
  const status = response.status;

  if (!response.ok) {
    const mapped = request.mapError?.({ status, json: json.ok ? json.value : undefined, text });
    if (mapped) {
      // Rebuilt so a provider's message passes through the same redaction as ours.
      throw new TranslateError(mapped.code, redact(mapped.message), { status });
    }
    const detail = redact(`${provider}: HTTP ${status}: ${clip(text)}`);
    if (status === 429) throw new TranslateError("rate_limited", detail, { status });
    if (status >= 500) throw new TranslateError("unavailable", detail, { status });
    throw new TranslateError("bad_response", detail, { status });
  }

  if (!json.ok) {
    throw new TranslateError(
      "bad_response",
      redact(`${provider}: the answer is not JSON: ${clip(text)}`),
      { status },
    );
  }
  const parsed = request.parse(json.value);
  if (parsed === undefined) {
    throw new TranslateError(
      "bad_response",
      redact(`${provider}: the answer has an unexpected shape: ${clip(text)}`),
      { status },
    );
  }
  return parsed;
}

/** A `bad_response` error for a body that parsed but does not fit (a wrong count). */
export function badResponse(provider: string, why: string, status?: number): TranslateError {
  return new TranslateError("bad_response", `${provider}: ${why}`, { status });
}

/** The text of a JSON error body's message, or of the raw body, shortened for a log line. */
export function clip(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > MAX_DETAIL_CHARS ? `${flat.slice(0, MAX_DETAIL_CHARS)}…` : flat;
}

/** Whether `value` is a plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Joins `path` to a base URL that may or may not end in `/` (and may itself have a path). */
export function joinUrl(base: string, path: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
  return url;
}

function timeoutError(provider: string, signal: AbortSignal): TranslateError {
  // Both a passed deadline (TimeoutError) and a caller's abort mean "no answer in time" here.
  return new TranslateError("timeout", `${provider}: no answer before the deadline`, {
    cause: signal.reason,
  });
}

function headersFor(body: unknown): HeadersInit {
  if (body === undefined) return { accept: "application/json" };
  if (body instanceof URLSearchParams) {
    return {
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded; charset=utf-8",
    };
  }
  return { accept: "application/json", "content-type": "application/json; charset=utf-8" };
}

function bodyFor(body: unknown): BodyInit | undefined {
  if (body === undefined) return undefined;
  if (body instanceof URLSearchParams) return body.toString();
  return JSON.stringify(body);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The error's message and its causes' (Deno's `fetch failed` says why only in its cause). */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 3; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

/**
 * Removes every secret from a message, raw and URL-encoded, and any `key=`/`api_key=` query
 * value, in case a key reached a URL in a form we did not list.
 */
function redactor(secrets: readonly (string | undefined)[]): (message: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(new URLSearchParams({ k: secret }).toString().slice(2));
  }
  // Longest first, so a secret that contains another is removed whole.
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (message) => {
    let out = message;
    for (const form of ordered) out = out.split(form).join("[redacted]");
    return out.replace(/([?&](?:api_)?key=)[^&#\s)"']+/gi, "$1[redacted]");
  };
}
