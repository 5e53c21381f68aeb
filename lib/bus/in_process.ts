import type { Bus, BusMessage } from "./bus.ts";
import { newNodeId } from "./bus.ts";
import { LocalBus } from "./local_bus.ts";

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

class InProcessBus extends LocalBus {
  readonly #members: Set<InProcessBus>;

  constructor(node: string, members: Set<InProcessBus>) {
    super(node);
    this.#members = members;
  }

  publish(message: BusMessage): void {
    if (this.closed || this.#members.size < 2) return;
    const json = JSON.stringify(message);
    for (const peer of this.#members) {
      if (peer !== this) peer.#receive(json, this.node);
    }
  }

  #receive(json: string, from: string): void {
    if (!this.listened) return;
    queueMicrotask(() => this.deliver(json, from));
  }

  protected leave(): void {
    this.#members.delete(this);
  }
}
