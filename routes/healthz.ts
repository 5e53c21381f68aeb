import type { Handlers } from "../server/context.ts";
import { json } from "../server/http_error.ts";

/** How long the store may take to answer before /healthz calls it down. */
const STORE_CHECK_MS = 2000;

/**
 * GET /healthz — for load balancers, scripts and people. 200 while the server serves and its
 * store answers; 503 when the store does not (nothing can be stored or signed in), or when a
 * listener stopped accepting for good (nobody new gets in there). The translator's state is
 * reported but does not fail the check: a paused translator delivers untranslated messages, it
 * does not stop the chat. `connections` counts every open connection, signed in or not (each
 * holds a place under --max-connections); `signedIn` those signed in.
 */
export const handlers: Handlers = {
  async GET({ app }) {
    const router = app.router;
    const store = await checkStore(() => router.store.check());
    if (!store.ok) app.logger.warn("health check: the store does not answer", { error: store });
    const ok = store.ok && router.listeners.ok;
    let signedIn = 0;
    for (const sessions of router.online.values()) signedIn += sessions.size;
    return json({
      status: ok ? "ok" : "unavailable",
      version: router.version,
      connections: router.admission.open,
      signedIn,
      online: router.online.size,
      store,
      listeners: router.listeners.report(),
      translation: router.translation.health(),
    }, ok ? 200 : 503);
  },
};

async function checkStore(
  check: () => Promise<void>,
): Promise<{ ok: true; ms: number } | { ok: false; error: string }> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer in time")), STORE_CHECK_MS);
      }),
    ]);
    return { ok: true, ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
