import type { Bus, BusHandler, BusMessage, BusStatus } from "./bus.ts";
import { newNodeId } from "./bus.ts";
import { HandlerSet } from "./handler_set.ts";

/** How long `close` lets messages already posted reach the channels of this thread. */
const SETTLE_MS = 10;

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
  readonly #handlers: HandlerSet;
  #closed = false;
  #since = Date.now();

  /** Joins `options.channel`: from now on this node hears what the others publish there. */
  constructor(options: BroadcastChannelBusOptions) {
    this.node = options.node ?? newNodeId();
    this.#handlers = new HandlerSet(options.onError);
    this.#channel = new BroadcastChannel(options.channel);
    this.#channel.onmessage = ({ data }: MessageEvent<Envelope>) =>
      this.#handlers.deliver(data.json, data.from);
  }

  publish(message: BusMessage): void {
    if (this.#closed) return;
    const envelope: Envelope = { from: this.node, json: JSON.stringify(message) };
    this.#channel.postMessage(envelope);
  }

  subscribe(handler: BusHandler): () => void {
    return this.#handlers.add(handler);
  }

  status(): BusStatus {
    return { connected: !this.#closed, since: this.#since };
  }

  onStatus(_listener: (status: BusStatus) => void): () => void {
    // Within one process the channel never goes down; only close() changes the status.
    return () => {};
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#since = Date.now();
      this.#handlers.clear();
      this.#channel.close();
    }
    // Deno hands a message to the other channels of this thread a turn after `postMessage`: let
    // those turns pass, so a node that closed (after its `bye`) leaves nothing in flight.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
}
