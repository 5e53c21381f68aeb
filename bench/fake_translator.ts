/**
 * A loopback stand-in for Google Cloud Translation v2, for `--translate`: POST
 * /language/translate/v2?key=K with JSON {q: [...], target, source?, format} answers
 * {data: {translations: [{translatedText, detectedSourceLanguage}]}}. It "translates" by
 * prefixing `[<target>] `, so mentions, links and placeholders survive, and counts what it is
 * asked. Any path is accepted (the server may be given the base URL or the full one).
 */

export interface TranslatorStats {
  calls: number;
  texts: number;
  chars: number;
  /** Calls refused (wrong key, unreadable body). */
  refused: number;
  /** Calls by target language. */
  byTarget: Record<string, number>;
}

export interface FakeTranslator {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  key: string;
  stats: TranslatorStats;
  close(): Promise<void>;
}

export async function startFakeTranslator(
  options: { key?: string; delayMs?: number } = {},
): Promise<FakeTranslator> {
  const key = options.key ?? "bench";
  const stats: TranslatorStats = { calls: 0, texts: 0, chars: 0, refused: 0, byTarget: {} };
  const listening = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => listening.resolve(addr.port),
  }, async (req) => {
    const url = new URL(req.url);
    let q: string[] = [];
    let target = url.searchParams.get("target") ?? "";
    let given = url.searchParams.get("key");
    try {
      const type = req.headers.get("content-type") ?? "";
      if (req.method === "POST" && type.includes("json")) {
        const body = await req.json();
        q = typeof body.q === "string" ? [body.q] : body.q ?? [];
        target = body.target ?? target;
        given = body.key ?? given;
      } else {
        const form = req.method === "POST"
          ? new URLSearchParams(await req.text())
          : url.searchParams;
        q = form.getAll("q");
        target = form.get("target") ?? target;
        given = form.get("key") ?? given;
      }
    } catch {
      stats.refused++;
      return Response.json({ error: { code: 400, message: "Invalid JSON payload." } }, {
        status: 400,
      });
    }
    if (given !== key && req.headers.get("x-goog-api-key") !== key) {
      stats.refused++;
      return Response.json({
        error: { code: 400, message: "API key not valid. Please pass a valid API key." },
      }, { status: 400 });
    }
    stats.calls++;
    stats.texts += q.length;
    for (const t of q) stats.chars += t.length;
    stats.byTarget[target] = (stats.byTarget[target] ?? 0) + 1;
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    return Response.json({
      data: {
        translations: q.map((t) => ({
          translatedText: `[${target}] ${t}`,
          detectedSourceLanguage: "en",
        })),
      },
    });
  });
  const port = await listening.promise;
  return {
    url: `http://127.0.0.1:${port}`,
    key,
    stats,
    close: () => server.shutdown(),
  };
}
