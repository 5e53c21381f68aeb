import type { Bus } from "../bus/mod.ts";
import { LoginThrottle, type ThrottleOptions } from "./throttle.ts";

/** A failed sign-in, for the other nodes' throttles. */
interface SignInFailed {
  kind: "sign-in-failed";
  keys: string[];
}

/** A successful sign-in, which clears its name on the other nodes too. */
interface SignInSucceeded {
  kind: "sign-in-succeeded";
  key: string;
}

/**
 * The sign-in throttle of one node of several (workers of one machine, or machines): each
 * failure and success is told to the others over the bus and counted there as well, so a
 * guesser whose connections the kernel or the load balancer spreads over N nodes gets the same
 * few tries as against one, not N times as many. Attempts in flight stay each node's own: a
 * parallel burst spread over nodes may get up to N in flight at once, then the failures lock
 * the name everywhere.
 */
export class SharedThrottle extends LoginThrottle {
  readonly #bus: Bus;

  constructor(bus: Bus, options: ThrottleOptions = {}) {
    super(options);
    this.#bus = bus;
    // Until the bus closes, with the router.
    bus.subscribe((m) => {
      if (m.kind === "sign-in-failed" && isKeys((m as Partial<SignInFailed>).keys)) {
        super.fail(m.keys as string[]);
      } else if (m.kind === "sign-in-succeeded" && typeof m.key === "string") {
        super.succeed(m.key);
      }
    });
  }

  /** Records a failed attempt here and on every other node. */
  override fail(keys: string[]): void {
    super.fail(keys);
    this.#bus.publish({ kind: "sign-in-failed", keys } satisfies SignInFailed);
  }

  /** Clears a key here and on every other node. */
  override succeed(key: string): void {
    super.succeed(key);
    this.#bus.publish({ kind: "sign-in-succeeded", key } satisfies SignInSucceeded);
  }
}

function isKeys(keys: unknown): keys is string[] {
  return Array.isArray(keys) && keys.every((k) => typeof k === "string");
}
