/** How one listener is doing, as `/healthz` shows it. */
export type ListenerState =
  | { ok: true }
  /** Stopped accepting for good (not at shutdown): `error` is what ended it, `since` when. */
  | { ok: false; error: string; since: string };

/**
 * Which of the server's listeners accept. Each transport says when it starts and when it stops
 * for good (not a stop asked for at shutdown); `/healthz` fails while any is gone, since a
 * server that greets nobody on one of its ports is not healthy, whatever else answers.
 */
export class ListenerStates {
  #states = new Map<string, ListenerState>();

  /** `name` (e.g. `tcp`, `http`) accepts connections. */
  accepting(name: string): void {
    this.#states.set(name, { ok: true });
  }

  /** `name` stopped accepting for good because of `error`. */
  gone(name: string, error: unknown): void {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.#states.set(name, { ok: false, error: message, since: new Date().toISOString() });
  }

  /** True while no listener is gone. */
  get ok(): boolean {
    return [...this.#states.values()].every((s) => s.ok);
  }

  /** Each listener's state by name. */
  report(): Record<string, ListenerState> {
    return Object.fromEntries(this.#states);
  }
}
