import type { Bus, BusHandler, BusMessage, BusStatus } from "./bus.ts";
import { newNodeId } from "./bus.ts";

/**
 * Several nodes in one process sharing a bus: each `join` is one node's end. A single server
 * joins a hub of its own (its messages reach nobody); tests join several routers to one hub to
 * behave as several nodes. Each message is copied through JSON, so what works here works over
 * a real bus, and delivered on a microtask, never inside `publish`, like a real bus.
 */
export class InProcessBusHub {
  readonly #members = new Set<InProcessBus>();

  /** A new node's end of this hub. */
  join(node: string = newNodeId()): Bus {
    const bus = new InProcessBus(node, this.#members);
    this.#members.add(bus);
    return bus;
  }
}

class InProcessBus implements Bus {
  readonly node: string;
  readonly #members: Set<InProcessBus>;
  readonly #handlers = new Set<BusHandler>();
  #closed = false;
  readonly #since = Date.now();

  constructor(node: string, members: Set<InProcessBus>) {
    this.node = node;
    this.#members = members;
  }

  publish(message: BusMessage): void {
    if (this.#closed || this.#members.size < 2) return;
    const json = JSON.stringify(message);
    for (const peer of this.#members) {
      if (peer !== this) peer.#receive(json, this.node);
    }
  }

  #receive(json: string, from: string): void {
    if (this.#handlers.size === 0) return;
    queueMicrotask(() => {
      for (const handler of this.#handlers) {
        try {
          handler(JSON.parse(json), from);
        } catch (err) {
          console.error("bus handler failed", err);
        }
      }
    });
  }

  subscribe(handler: BusHandler): () => void {
    // A wrapper, so the same function subscribed twice is called twice and unsubscribes once.
    const h: BusHandler = (m, f) => handler(m, f);
    this.#handlers.add(h);
    return () => this.#handlers.delete(h);
  }

  status(): BusStatus {
    return { connected: !this.#closed, since: this.#since };
  }

  onStatus(_listener: (status: BusStatus) => void): () => void {
    // In one process the bus never goes down.
    return () => {};
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#members.delete(this);
    this.#handlers.clear();
    return Promise.resolve();
  }
}
