/**
 * What the nodes of one Parley service tell each other. The store is the source of truth; the
 * bus only says "look now" (and carries what is live only: presence, typing, `@all`), so a lost
 * bus message delays a delivery until the device's next catch-up but never loses one. See
 * docs/bus.md.
 *
 * An implementation moves `BusMessage`s between nodes as opaque JSON: it never looks inside
 * one but for its size, so new kinds of message need no change to any implementation.
 */

/**
 * One message between nodes: a plain JSON object (strings, numbers, booleans, arrays, objects;
 * no `undefined`, no class instances). `kind` tells the receiver what it is (lib/bus/messages.ts
 * lists the kinds the router sends).
 */
export interface BusMessage {
  kind: string;
  [field: string]: unknown;
}

/** Whether a bus reaches the other nodes now. */
export interface BusStatus {
  connected: boolean;
  /** When `connected` last changed (ms since the epoch). */
  since: number;
  /** Why it is not connected, safe to show (no password). */
  error?: string;
}

/** Receives what another node published; `from` is that node's id. */
export type BusHandler = (message: BusMessage, from: string) => void;

/**
 * A node's end of the bus.
 *
 * - `publish` reaches every other node that is subscribed, never this one; it never throws and
 *   never blocks the caller: while the bus is down the message is dropped (the store holds the
 *   truth; heartbeats and catch-up repair the rest).
 * - Messages of one publisher reach each subscriber in the order published.
 * - Handlers run asynchronously (never inside `publish`); an exception in one is logged by the
 *   implementation and does not stop the others.
 */
export interface Bus {
  /** This node's id, unique among the nodes sharing the bus. */
  readonly node: string;
  /** Sends `message` to every other node. */
  publish(message: BusMessage): void;
  /** Calls `handler` for every message another node publishes; returns the unsubscribe. */
  subscribe(handler: BusHandler): () => void;
  /** Whether the bus reaches the other nodes now. */
  status(): BusStatus;
  /**
   * Calls `listener` at each change of `status()` (a reconnect re-announces this node's
   * presence); returns the unsubscribe.
   */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Leaves the bus; `publish` is a no-op afterwards. Idempotent. */
  close(): Promise<void>;
}

/** The largest message a bus must carry (bytes of its JSON). */
export const MAX_BUS_MESSAGE_BYTES = 256 * 1024;

/** A new random node id: unique enough among a service's nodes, short enough for logs. */
export function newNodeId(): string {
  return crypto.randomUUID().slice(0, 8);
}
