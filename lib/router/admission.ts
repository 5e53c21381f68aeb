import { ERROR_CODES } from "../errors.ts";
import { TokenBucket } from "../token_bucket.ts";
import type { Limits } from "./options.ts";

/** Why a new connection is refused; the code is one of `ERROR_CODES`. */
export interface Refusal {
  code: "server_full" | "too_many_connections" | "connecting_too_fast";
  message: string;
  /** Seconds after which trying again may succeed. */
  retryAfter?: number;
}

/** A connection's place, held from accept until its socket closes. */
export interface Ticket {
  release(): void;
}

interface Address {
  open: number;
  recent: TokenBucket;
}

/**
 * Decides whether a new connection may start, before any work is spent on it: at most
 * `maxConnections` in all, `maxConnectionsPerIp` from one address, and `newConnectionsPerMinute`
 * new ones per address (a token bucket, so a burst of reconnects after a restart is fine but a
 * loop is not). Both transports ask the same instance, so the limits hold across TCP and WS.
 * This is one node's; with other nodes, `SharedAdmission` (shared_admission.ts) holds the
 * per-address limits across them.
 */
export class Admission {
  #limits: Pick<Limits, "maxConnections" | "maxConnectionsPerIp" | "newConnectionsPerMinute">;
  #addresses = new Map<string, Address>();
  #open = 0;
  #admitted = 0;
  #onRefuse: (refusal: Refusal) => void;

  constructor(
    limits: Pick<Limits, "maxConnections" | "maxConnectionsPerIp" | "newConnectionsPerMinute">,
    onRefuse: (refusal: Refusal) => void = () => {},
  ) {
    this.#limits = limits;
    this.#onRefuse = onRefuse;
  }

  /** Connections holding a ticket now. */
  get open(): number {
    return this.#open;
  }

  /** Connections from `address` open now, on this node and (as they said) the others. */
  openFrom(address: string): number {
    return (this.#addresses.get(address)?.open ?? 0) + this.openElsewhere(address);
  }

  /** A ticket for a new connection from `address`, or why it is refused. */
  admit(address: string): Ticket | Refusal {
    this.#sweepNowAndThen();
    const refusal = this.#check(address);
    if (refusal) {
      this.#onRefuse(refusal);
      return refusal;
    }
    const entry = this.#entry(address);
    entry.open++;
    this.#open++;
    this.admitted(address);
    return new HeldPlace(this.#free, address, entry);
  }

  /** Stops what tells the other nodes (`SharedAdmission`); nothing to stop on one node. */
  close(): void {}

  /** Connections from `address` that other nodes hold: none on one node. */
  protected openElsewhere(_address: string): number {
    return 0;
  }

  /** A connection from `address` was admitted here (a `SharedAdmission` tells the others). */
  protected admitted(_address: string): void {}

  /** A connection from `address` admitted here ended. */
  protected released(_address: string): void {}

  /**
   * Another node admitted a connection from `address`: it takes a token of the address's
   * per-minute bucket here too, so the rate holds across nodes.
   */
  protected takeToken(address: string): void {
    this.#sweepNowAndThen();
    const entry = this.#entry(address);
    entry.recent.take(1);
    this.#forgetIdle(address, entry);
  }

  /** The addresses with connections open here, and how many each. */
  protected *openHere(): Iterable<[string, number]> {
    for (const [address, entry] of this.#addresses) {
      if (entry.open > 0) yield [address, entry.open];
    }
  }

  /**
   * Now and then, forgets addresses that left and whose buckets refilled (counting the other
   * nodes' admissions too, which make entries here as well).
   */
  #sweepNowAndThen(): void {
    if (++this.#admitted % 1024 !== 0) return;
    for (const [a, e] of this.#addresses) this.#forgetIdle(a, e);
  }

  /** One function for every ticket, so a ticket holds no closure of its own. */
  #free = (address: string, entry: Address): void => {
    entry.open--;
    this.#open--;
    this.#forgetIdle(address, entry);
    this.released(address);
  };

  #check(address: string): Refusal | undefined {
    const { maxConnections, maxConnectionsPerIp, newConnectionsPerMinute } = this.#limits;
    if (this.#open >= maxConnections) {
      return {
        code: "server_full",
        message: `${ERROR_CODES.server_full} (${maxConnections} connections)`,
        retryAfter: 30,
      };
    }
    const entry = this.#entry(address);
    if (entry.open + this.openElsewhere(address) >= maxConnectionsPerIp) {
      this.#forgetIdle(address, entry);
      return {
        code: "too_many_connections",
        message: `Too many connections from your address: at most ${maxConnectionsPerIp} at once.`,
      };
    }
    if (!entry.recent.take(1)) {
      const retryAfter = Math.ceil(entry.recent.secondsUntil(1));
      this.#forgetIdle(address, entry);
      return {
        code: "connecting_too_fast",
        message: `Too many new connections from your address (at most ${newConnectionsPerMinute} ` +
          `a minute); try again in ${retryAfter} s.`,
        retryAfter,
      };
    }
    return undefined;
  }

  #entry(address: string): Address {
    let entry = this.#addresses.get(address);
    if (!entry) {
      const perMinute = this.#limits.newConnectionsPerMinute;
      entry = { open: 0, recent: new TokenBucket(perMinute / 60, perMinute) };
      this.#addresses.set(address, entry);
    }
    return entry;
  }

  /** An address with nothing open and a full bucket carries no state worth keeping. */
  #forgetIdle(address: string, entry: Address): void {
    if (entry.open === 0 && entry.recent.full) this.#addresses.delete(address);
  }
}

/** A ticket: gives its place back once, however often it is released. */
class HeldPlace implements Ticket {
  #free: ((address: string, entry: Address) => void) | undefined;
  #address: string;
  #entry: Address;

  constructor(free: (address: string, entry: Address) => void, address: string, entry: Address) {
    this.#free = free;
    this.#address = address;
    this.#entry = entry;
  }

  release(): void {
    const free = this.#free;
    this.#free = undefined;
    free?.(this.#address, this.#entry);
  }
}

/** True when `admit` refused. */
export function isRefusal(result: Ticket | Refusal): result is Refusal {
  return "code" in result;
}
