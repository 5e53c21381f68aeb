import type { Handlers } from "../server/context.ts";
import { json } from "../server/http_error.ts";
import { isParleyError } from "../lib/errors.ts";
import type { ReachState, WriteState } from "../lib/store/write_health.ts";

/** How long the store may take to answer before /healthz calls it down. */
const STORE_CHECK_MS = 2000;

type StoreHealth =
  | { ok: true; writable: true; ms: number }
  | { ok: false; writable: false; error: string; since?: string; refused?: number }
  | {
    ok: false;
    writable: false;
    reachable: false;
    error: string;
    since: string;
    failed: number;
  };

/**
 * GET /healthz — for load balancers, scripts and people. 200 while the server serves and its
 * store answers and commits a write; 503 when it does not (nothing can be stored or signed in),
 * with `store.writable: false` and the time of the first refused write while the disk is full,
 * or with `store.reachable: false` and the time of the first failed call while its database
 * (PostgreSQL) cannot be reached, or when a listener stopped accepting for good (nobody new gets in there). The translator's
 * state is reported but does not fail the check: a paused translator delivers untranslated
 * messages, it does not stop the chat. So is the bus's (docs/bus.md): while Redis is down
 * the node still serves its own users, and the others catch up afterwards. `connections` counts every open connection, signed in or
 * not (each holds a place under --max-connections); `signedIn` those signed in.
 */
export const handlers: Handlers = {
  async GET({ app }) {
    const router = app.router;
    const store = await checkStore(
      () => router.store.check(),
      () => router.storeWrites.state,
      () => router.storeWrites.reach,
    );
    // A full disk or a lost database is logged once per episode by the store's tracking, not
    // per check.
    if (!store.ok && store.since === undefined) {
      app.logger.warn("health check: the store does not answer", { error: store });
    }
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
      // Reported, not failing the check: a node whose bus is down still serves its own users.
      bus: router.cluster.health(),
    }, ok ? 200 : 503);
  },
};

async function checkStore(
  check: () => Promise<void>,
  writes: () => WriteState,
  reach: () => ReachState,
): Promise<StoreHealth> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("no answer in time")), STORE_CHECK_MS);
      }),
    ]);
    return { ok: true, writable: true, ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    const error = (err as Error).message;
    if (isParleyError(err, "storage_unavailable")) {
      // The check's own failure is counted already, as for a full disk below.
      const { since = Date.now(), failed = 1 } = reach();
      const at = new Date(since).toISOString();
      return { ok: false, writable: false, reachable: false, error, since: at, failed };
    }
    if (!isParleyError(err, "storage_full")) return { ok: false, writable: false, error };
    // The probe's refusal is counted already: the store's tracking saw it settle first.
    const { since = Date.now(), refused = 0 } = writes();
    return { ok: false, writable: false, error, since: new Date(since).toISOString(), refused };
  } finally {
    clearTimeout(timer);
  }
}
