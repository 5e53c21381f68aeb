import { createClient } from "@redis/client";
import type { Logger } from "../log.ts";
import {
  type Bus,
  type BusHandler,
  type BusMessage,
  type BusStatus,
  MAX_BUS_MESSAGE_BYTES,
  newNodeId,
} from "./bus.ts";
import { parseRedisBusUrl, type RedisBusAddress } from "./redis_url.ts";

/** Longest wait between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

type Client = ReturnType<typeof createClient>;

/** What a node needs to join a service's Redis bus. */
export interface RedisBusOptions {
  /** `redis://[user:password@]host[:port][?channel=name]` (see `parseRedisBusUrl`). */
  url: string;
  /** This node's id. @default a new random one */
  node?: string;
  logger?: Logger;
}

/**
 * The bus over Redis pub/sub, for nodes on several machines: one channel per service, two
 * connections (a subscribed connection cannot publish). Both reconnect by themselves, with
 * backoff, when Redis goes away; meanwhile `publish` drops what it is given (the client's
 * offline queue is off: stale hints would only arrive late), and `status` says since when the
 * bus is down. The subscription is renewed on each reconnection.
 */
export class RedisBus implements Bus {
  readonly node: string;
  readonly address: RedisBusAddress;
  readonly #pub: Client;
  readonly #sub: Client;
  readonly #handlers = new Set<BusHandler>();
  readonly #listeners = new Set<(status: BusStatus) => void>();
  readonly #logger: Logger | undefined;
  #status: BusStatus = { connected: false, since: Date.now(), error: "connecting" };
  #subscribed = false;
  #closed = false;
  readonly #ready: Promise<void>;

  /** Starts connecting at once; `ready` settles when first connected. */
  constructor(options: RedisBusOptions) {
    this.address = parseRedisBusUrl(options.url);
    this.node = options.node ?? newNodeId();
    this.#logger = options.logger;
    const settings = {
      url: this.address.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 5000,
        reconnectStrategy: (retries: number) =>
          Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS),
      },
    };
    this.#pub = createClient(settings);
    this.#sub = createClient(settings);
    for (const client of [this.#pub, this.#sub]) {
      client.on("ready", () => this.#update());
      client.on("end", () => this.#update());
      client.on("reconnecting", () => this.#update());
      // Without a listener an error would be thrown; the state says it instead.
      client.on("error", (err: Error) => this.#update(err));
    }
    this.#ready = this.#connect();
  }

  /** Settles once the bus is connected and subscribed the first time. */
  ready(): Promise<void> {
    return this.#ready;
  }

  async #connect(): Promise<void> {
    await Promise.all([this.#pub.connect(), this.#sub.connect()]);
    await this.#sub.subscribe(this.address.channel, (raw: string) => this.#receive(raw));
    this.#subscribed = true;
    this.#update();
  }

  publish(message: BusMessage): void {
    if (this.#closed || !this.#pub.isReady) return;
    const raw = JSON.stringify({ f: this.node, m: message });
    if (raw.length > MAX_BUS_MESSAGE_BYTES) {
      this.#logger?.warn("bus message too large, dropped", { kind: message.kind });
      return;
    }
    this.#pub.publish(this.address.channel, raw).catch((err: Error) => this.#update(err));
  }

  #receive(raw: string): void {
    let envelope: { f: string; m: BusMessage };
    try {
      envelope = JSON.parse(raw);
    } catch {
      this.#logger?.warn("bus message not JSON, dropped", { bytes: raw.length });
      return;
    }
    if (envelope.f === this.node) return;
    for (const handler of this.#handlers) {
      try {
        // Each handler its own copy: one cannot change what the next sees.
        handler(this.#handlers.size > 1 ? structuredClone(envelope.m) : envelope.m, envelope.f);
      } catch (err) {
        if (this.#logger) this.#logger.error("bus handler failed", { error: err });
        else console.error("bus handler failed", err);
      }
    }
  }

  subscribe(handler: BusHandler): () => void {
    const h: BusHandler = (m, f) => handler(m, f);
    this.#handlers.add(h);
    return () => this.#handlers.delete(h);
  }

  status(): BusStatus {
    return { ...this.#status };
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #update(err?: Error): void {
    if (this.#closed) return;
    const connected = this.#subscribed && this.#pub.isReady && this.#sub.isReady;
    if (connected === this.#status.connected) return;
    this.#status = connected
      ? { connected, since: Date.now() }
      : { connected, since: Date.now(), error: err ? describe(err) : "connection lost" };
    for (const listener of this.#listeners) {
      try {
        listener(this.status());
      } catch (e) {
        this.#logger?.error("bus status listener failed", { error: e });
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#status = { connected: false, since: Date.now(), error: "closed" };
    this.#handlers.clear();
    this.#listeners.clear();
    // A connection still trying (Redis down) is dropped; a ready one finishes what it sent.
    this.#ready.catch(() => {});
    await Promise.allSettled(
      [this.#pub, this.#sub].map((c) => c.isReady ? c.close() : c.destroy()),
    );
  }
}

/** An error as status and logs show it: no address, so no password. */
function describe(err: Error): string {
  const code = (err as { code?: string }).code;
  return code ? `${code}: ${err.message}` : err.message;
}
