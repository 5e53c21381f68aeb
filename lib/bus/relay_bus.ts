/**
 * The in-machine bus of `--workers N`: each worker posts what it publishes to the main thread,
 * whose `RelayHub` posts it on to every other worker. `postMessage` queues without bound and
 * never drops, and one publisher's messages arrive in the order published.
 *
 * It replaced a `BroadcastChannel`: Deno carries those between threads on one queue of 256
 * messages for the whole process, and a receiver that falls behind loses what overflows without
 * a word. A sign-in storm (thousands of `online` and presence messages in a few seconds) did
 * that, and the `stored` hints among them were lost: a message committed on one worker for a
 * user who had signed in on the other reached them only at their next sign-in.
 */
import type { BusMessage } from "./bus.ts";
import { newNodeId } from "./bus.ts";
import { LocalBus } from "./local_bus.ts";

/**
 * Where a relay bus or hub posts and hears messages: a worker's own global scope (to its main
 * thread), a `Worker` (from the main thread), or a `MessagePort`.
 */
export interface RelayPort {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
  removeEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}

/** What travels: marked as the bus's, with the publisher's node and the message as JSON. */
export interface RelayEnvelope {
  type: "bus";
  from: string;
  json: string;
}

/** Whether `data` (anything posted on the port) is a bus message. */
export function isRelayEnvelope(data: unknown): data is RelayEnvelope {
  const e = data as Partial<RelayEnvelope> | null;
  return typeof e === "object" && e !== null && e.type === "bus" &&
    typeof e.from === "string" && typeof e.json === "string";
}

export interface RelayBusOptions {
  /** The port to the hub (in a worker: its global scope). */
  port: RelayPort;
  /** This node's id. @default a new random one */
  node?: string;
  /** Where a handler's exception is reported. @default console.error */
  onError?: (err: unknown) => void;
}

/** One node's end of the relay: publishes through its port, hears what the hub forwards. */
export class RelayBus extends LocalBus {
  readonly #port: RelayPort;
  readonly #listener = ({ data }: MessageEvent) => {
    if (isRelayEnvelope(data) && data.from !== this.node) this.deliver(data.json, data.from);
  };

  /** Joins the relay: from now on this node hears what the others publish. */
  constructor(options: RelayBusOptions) {
    super(options.node ?? newNodeId(), options.onError);
    this.#port = options.port;
    this.#port.addEventListener("message", this.#listener);
  }

  publish(message: BusMessage): void {
    if (this.closed) return;
    const envelope: RelayEnvelope = { type: "bus", from: this.node, json: JSON.stringify(message) };
    this.#port.postMessage(envelope);
  }

  protected leave(): void {
    this.#port.removeEventListener("message", this.#listener);
  }
}

/**
 * The main thread's side: every bus message a port posts goes on to every other port attached,
 * in the order it came.
 */
export class RelayHub {
  readonly #ports = new Map<RelayPort, (event: MessageEvent) => void>();

  /** Relays what `port` publishes, and forwards the others' messages to it; returns the detach. */
  attach(port: RelayPort): () => void {
    const listener = ({ data }: MessageEvent) => {
      if (isRelayEnvelope(data)) this.#forward(data, port);
    };
    port.addEventListener("message", listener);
    this.#ports.set(port, listener);
    return () => this.detach(port);
  }

  /** Stops relaying to and from `port` (a worker that ended). */
  detach(port: RelayPort): void {
    const listener = this.#ports.get(port);
    if (!listener) return;
    port.removeEventListener("message", listener);
    this.#ports.delete(port);
  }

  /**
   * Sends `message` to every port as if `node` had published it: the main thread says `bye` for
   * a worker that crashed, so the others take its users offline at once.
   */
  publishAs(node: string, message: BusMessage): void {
    this.#forward({ type: "bus", from: node, json: JSON.stringify(message) }, undefined);
  }

  #forward(envelope: RelayEnvelope, source: RelayPort | undefined): void {
    for (const port of this.#ports.keys()) if (port !== source) port.postMessage(envelope);
  }
}
