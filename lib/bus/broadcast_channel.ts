import type { Bus, BusHandler, BusMessage, BusStatus } from "./bus.ts";
import { newNodeId } from "./bus.ts";

/** What travels on the channel: the publisher's node id and the message as JSON. */
interface Envelope {
  from: string;
  json: string;
}

export interface BroadcastChannelBusOptions {
  /**
   * The channel's name: the nodes of one service share it, and nothing else in the process uses
   * it (the main thread makes one per server and gives it to its workers).
   */
  channel: string;
  /** This node's id. @default a new random one */
  node?: string;
  /** Where a handler's exception is reported. @default console.error */
  onError?: (err: unknown) => void;
}

/**
 * The in-machine bus of `--workers N`: the workers of one process on a `BroadcastChannel`,
 * which Deno carries between the threads of one process (and between the objects of one
 * thread). Nothing to install or connect: it is up as long as the process is. A message is
 * copied as JSON, as over any bus, and arrives in a later task, never inside `publish`; one
 * publisher's messages arrive in the order published.
 */
export class BroadcastChannelBus implements Bus {
  readonly node: string;
  readonly #channel: BroadcastChannel;
  readonly #handlers = new Set<BusHandler>();
  readonly #onError: (err: unknown) => void;
  #closed = false;
  #since = Date.now();

  /** Joins `options.channel`: from now on this node hears what the others publish there. */
  constructor(options: BroadcastChannelBusOptions) {
    this.node = options.node ?? newNodeId();
    this.#onError = options.onError ?? ((err) => console.error("bus handler failed", err));
    this.#channel = new BroadcastChannel(options.channel);
    this.#channel.onmessage = (event: MessageEvent<Envelope>) => this.#receive(event.data);
  }

  publish(message: BusMessage): void {
    if (this.#closed) return;
    const envelope: Envelope = { from: this.node, json: JSON.stringify(message) };
    this.#channel.postMessage(envelope);
  }

  #receive({ from, json }: Envelope): void {
    for (const handler of this.#handlers) {
      try {
        // Parsed for each handler: none sees what another changed.
        handler(JSON.parse(json), from);
      } catch (err) {
        this.#onError(err);
      }
    }
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
    // Within one process the channel never goes down; only close() changes the status.
    return () => {};
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#since = Date.now();
      this.#handlers.clear();
      this.#channel.close();
    }
    return Promise.resolve();
  }
}
