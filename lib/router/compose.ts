/**
 * The one place a Router is put together: the store as the server uses it (timed, its user
 * list cached, its writes watched for a full disk), the metrics registry with the process's
 * memory, connection admission, the sign-in throttle and the translation service. main.ts and
 * the tests both build their router here, so the tests run what production runs.
 */
import { createSignInThrottle, SIGN_IN_THROTTLE } from "../accounts/throttle.ts";
import { SharedThrottle } from "../accounts/shared_throttle.ts";
import { DEFAULT_ITERATIONS } from "../accounts/password.ts";
import type { Bus } from "../bus/mod.ts";
import type { Logger } from "../log.ts";
import { MetricsRegistry, registerProcessMetrics } from "../metrics/mod.ts";
import type { IceServer } from "../protocol/types.ts";
import type { Store } from "../store/store.ts";
import { FileService, type FileServiceOptions } from "../files/service.ts";
import { timedStore } from "../store/timed.ts";
import { cachedUserList } from "../store/user_list_cache.ts";
import { StoreWriteHealth } from "../store/write_health.ts";
import type { BreakerOptions } from "../translate/breaker.ts";
import { TranslationService } from "../translate/service.ts";
import type { Translator } from "../translate/translator.ts";
import { VERSION } from "../version.ts";
import { Admission, type Refusal } from "./admission.ts";
import { LimitCounters } from "./limit_counters.ts";
import { DEFAULT_LIMITS, type Limits, type RouterOptions } from "./options.ts";
import { Router } from "./router.ts";
import { SharedAdmission } from "./shared_admission.ts";

/** What a router is built from; everything but the store and the logger has a default. */
export interface RouterSetup {
  /** The bare backend (an open SqliteStore); the router gets it decorated. */
  store: Store;
  logger: Logger;
  /** Shown in greetings. @default VERSION */
  version?: string;
  /** Each limit not given is its `DEFAULT_LIMITS` value. */
  limits?: Partial<Limits>;
  /** PBKDF2 iterations for new password hashes. @default 600000 */
  kdfIterations?: number;
  /** Whether text mode shows the original after a translation, until `/originals`. @default true */
  textOriginals?: boolean;
  /** Translates messages into each reader's language. @default none: translation off */
  translator?: Translator;
  /** How long a message may wait for its translation. @default 2000 */
  translateTimeoutMs?: number;
  /** The translation circuit breaker's settings. */
  breaker?: Omit<BreakerOptions, "onChange">;
  /** STUN/TURN servers for calls (`--ice-servers`). @default none: host candidates only */
  iceServers?: IceServer[];
  /** The bus to the other nodes of the service; the router closes it. @default none: one node */
  bus?: Bus;
  /** How often this node announces its users to the others. @default 2000 */
  heartbeatMs?: number;
  /** Sharing files (lib/files/): where they are kept and the limits. @default none: no files */
  files?: Omit<FileServiceOptions, "store" | "logger">;
}

/**
 * `store` as every part of the server uses it: calls timed into `parley_store_seconds`, the
 * user list answered from memory, and each write's outcome reported to `storeWrites` (which
 * `/healthz` and `/metrics` read). Timed inside the cache: store latency is the backend's.
 */
export function decorateStore(
  store: Store,
  parts: { storeWrites: StoreWriteHealth; metrics: MetricsRegistry; bus?: Bus },
): Store {
  const latency = parts.metrics.histogram(
    "parley_store_seconds",
    "Time store operations took, by operation.",
  );
  return cachedUserList(
    timedStore(parts.storeWrites.wrap(store), (op, s) => latency.observe(s, { op })),
    undefined,
    parts.bus,
  );
}

/** The parts of a router, built as the server runs them (see the module comment). */
export function composeRouterOptions(setup: RouterSetup): RouterOptions {
  const { logger } = setup;
  const limits = { ...DEFAULT_LIMITS, ...setup.limits };
  const metrics = new MetricsRegistry();
  registerProcessMetrics(metrics);
  const limitCounters = new LimitCounters(metrics);
  // One tracker for every writer of the store (the router and the translation cache), so a
  // full disk is logged once per episode.
  const storeWrites = new StoreWriteHealth(logger);
  registerStoreMetrics(metrics, storeWrites);
  const store = decorateStore(setup.store, { storeWrites, metrics, bus: setup.bus });
  const onRefuse = (refusal: Refusal) => limitCounters.hit(refusal.code);
  return {
    store,
    storeWrites,
    logger,
    version: setup.version ?? VERSION,
    limits,
    kdfIterations: setup.kdfIterations ?? DEFAULT_ITERATIONS,
    metrics,
    limitCounters,
    // With other nodes, the per-address limits hold across them (lib/router/shared_admission.ts).
    admission: setup.bus
      ? new SharedAdmission(setup.bus, limits, { summaryMs: setup.heartbeatMs, onRefuse })
      : new Admission(limits, onRefuse),
    // With other nodes, failures count on every node (lib/accounts/shared_throttle.ts).
    throttle: setup.bus ? new SharedThrottle(setup.bus, SIGN_IN_THROTTLE) : createSignInThrottle(),
    translation: new TranslationService({
      translator: setup.translator,
      cache: store,
      logger,
      metrics,
      timeoutMs: setup.translateTimeoutMs,
      breaker: setup.breaker,
    }),
    textOriginals: setup.textOriginals ?? true,
    iceServers: setup.iceServers ?? [],
    bus: setup.bus,
    heartbeatMs: setup.heartbeatMs,
    files: setup.files && new FileService({ ...setup.files, store, logger }),
  };
}

/** A router built from `setup` the way the server builds its own. */
export function composeRouter(setup: RouterSetup): Router {
  return new Router(composeRouterOptions(setup));
}

function registerStoreMetrics(metrics: MetricsRegistry, storeWrites: StoreWriteHealth): void {
  metrics.gauge(
    "parley_store_writable",
    "1 while the store's writes go through, 0 while they are refused (a full disk).",
    () => storeWrites.state.writable ? 1 : 0,
  );
  metrics.gauge(
    "parley_store_reachable",
    "1 while the store's database answers, 0 while it cannot be reached (storage_unavailable).",
    () => storeWrites.reach.reachable ? 1 : 0,
  );
  metrics.counterFrom(
    "parley_store_full_refusals_total",
    "Writes the store refused because the disk was full (storage_full).",
    () => storeWrites.refusedTotal,
  );
}
