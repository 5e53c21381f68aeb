import type { LoginThrottle } from "../accounts/throttle.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics/mod.ts";
import type { Store } from "../store/store.ts";
import type { StoreWriteHealth } from "../store/write_health.ts";
import type { Bus } from "../bus/mod.ts";
import type { TranslationService } from "../translate/service.ts";
import type { Admission } from "./admission.ts";
import type { LimitCounters } from "./limit_counters.ts";

/** Limits a router enforces on every connection, whatever its transport. */
export interface Limits {
  /** Longest message text, in UTF-8 bytes. @default 4096 */
  maxMessageBytes: number;
  /** Token-bucket refill, in command tokens per second. @default 10 */
  ratePerSec: number;
  /** Token-bucket size. @default 30 */
  rateBurst: number;
  /** A connection not signed in by then is closed. @default 30000 */
  loginTimeoutMs: number;
  /** A typing indicator expires after this long without a refresh. @default 5000 */
  typingTtlMs: number;
  /** Stored messages sent per batch at sign-in; the next batch follows the acknowledgement. @default 500 */
  pendingBatch: number;
  /**
   * Text mode: how long the lines shown are gathered before the read markers move (and a
   * receipt goes out), per session. `/quit` moves them at once. @default 500
   */
  textReadDelayMs: number;
  /** Connections open at once, all addresses together. @default 20000 */
  maxConnections: number;
  /** Connections open at once from one address. @default 200 */
  maxConnectionsPerIp: number;
  /** New connections one address may open per minute. @default 600 */
  newConnectionsPerMinute: number;
  /** Outbound bytes one connection may have waiting before it counts as too slow. @default 1 MiB */
  maxQueuedBytes: number;
  /** A write that makes no progress for this long marks the reader too slow. @default 5000 */
  slowReaderMs: number;
  /**
   * A connection quiet (nothing sent or received) this long is told to rest: its secure session
   * drops its imported keys (a few KiB) until the next frame. @default 10000
   */
  restAfterMs: number;
  /**
   * The longest a transport may hold a lazy frame (presence, heartbeats) to send it with others:
   * a heartbeat still in the server after this long and `HEARTBEAT_LIMIT` timeouts ends the
   * connection all the same. Set by the server to what its transports wait at most. @default 3000
   */
  lazyWaitMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxMessageBytes: 4096,
  ratePerSec: 10,
  rateBurst: 30,
  loginTimeoutMs: 30_000,
  typingTtlMs: 5_000,
  pendingBatch: 500,
  textReadDelayMs: 500,
  maxConnections: 20_000,
  maxConnectionsPerIp: 200,
  newConnectionsPerMinute: 600,
  maxQueuedBytes: 1 << 20,
  slowReaderMs: 5_000,
  restAfterMs: 10_000,
  lazyWaitMs: 3_000,
};

/** A router's parts, made by `composeRouterOptions` (lib/router/compose.ts). */
export interface RouterOptions {
  /** The store as the server uses it (see `decorateStore`), not the bare backend. */
  store: Store;
  /**
   * Tracks whether the store's writes go through (a full disk); shared with the other users of
   * the store (the translation cache) so that one episode is logged once.
   */
  storeWrites: StoreWriteHealth;
  logger: Logger;
  /** Server name and version, shown in greetings. */
  version: string;
  limits: Limits;
  /** PBKDF2 iterations for new password hashes. */
  kdfIterations: number;
  /** Translates messages into each reader's language (a service with no translator: off). */
  translation: TranslationService;
  /** Where the router's counters are registered for `/metrics`. */
  metrics: MetricsRegistry;
  /** Refusals by a limit, counted for `/metrics`; `admission` counts into the same. */
  limitCounters: LimitCounters;
  /** Connection limits, shared by every transport. */
  admission: Admission;
  /** Failed sign-ins, by name and by address. */
  throttle: LoginThrottle;
  /** Whether text mode shows the original after a translation, until `/originals`. */
  textOriginals: boolean;
  /**
   * What this node tells the other nodes of the service through (docs/bus.md); the router
   * closes it at shutdown. None: a single node.
   */
  bus?: Bus;
  /** How often this node announces its users to the others. @default 2000 */
  heartbeatMs?: number;
}
