import type { Bus, BusHandler, BusMessage, BusStatus } from "./bus.ts";
import { HandlerSet } from "./handler_set.ts";

/**
 * What a bus within one process shares (the in-process hub's ends, the workers' relay): its
 * handlers, and a status that changes only when it is closed, since it never goes down while the
 * process runs. A subclass publishes, and calls `deliver` with what reaches it.
 */
export abstract class LocalBus implements Bus {
  readonly node: string;
  readonly #handlers: HandlerSet;
  #closed = false;
  #since = Date.now();

  constructor(node: string, onError?: (err: unknown) => void) {
    this.node = node;
    this.#handlers = new HandlerSet(onError);
  }

  abstract publish(message: BusMessage): void;

  /** Whether `close` was called: `publish` then does nothing. */
  protected get closed(): boolean {
    return this.#closed;
  }

  /** Whether anyone listens here (a message nobody hears need not be decoded). */
  protected get listened(): boolean {
    return this.#handlers.size > 0;
  }

  /** Hands another node's message (its JSON) to every handler. */
  protected deliver(json: string, from: string): void {
    this.#handlers.deliver(json, from);
  }

  /** Leaves the bus: a subclass stops hearing its transport here. */
  protected abstract leave(): void;

  subscribe(handler: BusHandler): () => void {
    return this.#handlers.add(handler);
  }

  status(): BusStatus {
    return { connected: !this.#closed, since: this.#since };
  }

  onStatus(_listener: (status: BusStatus) => void): () => void {
    // Within one process the bus never goes down.
    return () => {};
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#since = Date.now();
      this.#handlers.clear();
      this.leave();
    }
    return Promise.resolve();
  }
}
