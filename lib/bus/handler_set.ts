import type { BusHandler } from "./bus.ts";

/**
 * The handlers subscribed to one node's end of a bus, as every implementation keeps them: each
 * gets its own copy of a message (parsed from its JSON), and one that throws is reported without
 * stopping the others.
 */
export class HandlerSet {
  readonly #handlers = new Set<BusHandler>();
  readonly #onError: (err: unknown) => void;

  /** `onError` hears what a handler threw. @default console.error */
  constructor(onError: (err: unknown) => void = (err) => console.error("bus handler failed", err)) {
    this.#onError = onError;
  }

  /** Adds `handler`; returns how to remove it. */
  add(handler: BusHandler): () => void {
    // A wrapper, so the same function subscribed twice is called twice and unsubscribes once.
    const h: BusHandler = (m, f) => handler(m, f);
    this.#handlers.add(h);
    return () => this.#handlers.delete(h);
  }

  get size(): number {
    return this.#handlers.size;
  }

  /** Calls every handler with the message `json` from node `from`. */
  deliver(json: string, from: string): void {
    for (const handler of this.#handlers) {
      try {
        handler(JSON.parse(json), from);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  clear(): void {
    this.#handlers.clear();
  }
}
