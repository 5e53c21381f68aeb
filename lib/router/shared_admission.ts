import type { Bus, BusMessage } from "../bus/mod.ts";
import type { AdmissionCountsMessage, AdmittedMessage, ReleasedMessage } from "../bus/messages.ts";
import { Admission, type Refusal } from "./admission.ts";
import { DEFAULT_HEARTBEAT_MS } from "./cluster.ts";
import type { Limits } from "./options.ts";

/** Summaries a node may miss before the others stop counting its connections. */
const MISSED_SUMMARIES = 3;
/** Addresses per summary message, so a big node's list stays well under a bus message's size. */
const ADDRESSES_PER_SUMMARY = 2000;
/** Longer than any address a transport reports (an IPv6 address with a zone is under 64). */
const MAX_ADDRESS_LENGTH = 100;

/** What one other node said of its connections: how many from each address, until when. */
interface NodeCounts {
  open: Map<string, number>;
  expires: number;
  /** A summary round still arriving in parts. */
  next?: { round: number; open: Map<string, number> };
}

export interface SharedAdmissionOptions {
  /** How often this node sends the summary of its connections. @default 2000 */
  summaryMs?: number;
  /** Hears each refusal (for `/metrics`). */
  onRefuse?: (refusal: Refusal) => void;
}

/**
 * The admission of one node of several (workers of one machine, or machines): the per-address
 * limits hold across the nodes, not per node. Each connection admitted and each one ended is
 * told to the others over the bus (`admitted`, `released`); each node counts, per address, its
 * own open connections plus those the others reported, and checks `maxConnectionsPerIp`
 * against the sum. A connection another node admitted also takes a token of the address's
 * per-minute bucket here. `maxConnections` stays each node's own share.
 *
 * Counts are attributed to the node that reported them: every `summaryMs` each node sends
 * all its counts (`admission-counts`, which replaces what the others held of it, repairing
 * a message lost while the bus was down), and a node that sends none for `MISSED_SUMMARIES`
 * periods (it crashed, or its machine stopped), or said `bye`, stops counting.
 *
 * Consistency: admissions racing on different nodes each see the others' counts as of the last
 * message heard, so a burst spread over N nodes may overshoot a limit by up to N-1 connections
 * (or tokens) before the messages cross; after that the sum holds. A node that comes back from
 * a bus outage counts the others' connections again from their next summary.
 */
export class SharedAdmission extends Admission {
  readonly #bus: Bus;
  readonly #summaryMs: number;
  readonly #nodes = new Map<string, NodeCounts>();
  /** Per address, what all the other nodes hold together. */
  readonly #elsewhere = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #off: () => void;
  #round = 0;
  #closed = false;

  constructor(
    bus: Bus,
    limits: Pick<Limits, "maxConnections" | "maxConnectionsPerIp" | "newConnectionsPerMinute">,
    options: SharedAdmissionOptions = {},
  ) {
    super(limits, options.onRefuse);
    this.#bus = bus;
    this.#summaryMs = options.summaryMs ?? DEFAULT_HEARTBEAT_MS;
    this.#off = bus.subscribe((m, from) => this.#receive(m, from));
    this.#timer = setInterval(() => this.#tick(), this.#summaryMs);
  }

  /** Stops the summaries and hearing the other nodes (the router shuts down). */
  override close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#off();
  }

  /** The other nodes whose connections count here (for tests and `/healthz`). */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  protected override openElsewhere(address: string): number {
    return this.#elsewhere.get(address) ?? 0;
  }

  protected override admitted(address: string): void {
    this.#publish({ kind: "admitted", address } satisfies AdmittedMessage);
  }

  protected override released(address: string): void {
    this.#publish({ kind: "released", address } satisfies ReleasedMessage);
  }

  #publish(message: BusMessage): void {
    if (!this.#closed) this.#bus.publish(message);
  }

  #tick(): void {
    this.#expire(Date.now());
    this.#summarize();
  }

  /** Sends every address with connections open here, in parts of `ADDRESSES_PER_SUMMARY`. */
  #summarize(): void {
    const open = [...this.openHere()];
    const round = ++this.#round;
    const parts = Math.max(1, Math.ceil(open.length / ADDRESSES_PER_SUMMARY));
    const ttlMs = this.#summaryMs * MISSED_SUMMARIES;
    for (let part = 0; part < parts; part++) {
      const slice = open.slice(part * ADDRESSES_PER_SUMMARY, (part + 1) * ADDRESSES_PER_SUMMARY);
      this.#publish(
        {
          kind: "admission-counts",
          round,
          part,
          parts,
          ttlMs,
          open: slice,
        } satisfies AdmissionCountsMessage,
      );
    }
  }

  /** Nodes not heard of for their TTL stop counting. */
  #expire(now: number): void {
    for (const [node, entry] of this.#nodes) if (entry.expires <= now) this.#drop(node);
  }

  #receive(m: BusMessage, from: string): void {
    if (this.#closed) return;
    switch (m.kind) {
      case "admitted":
        if (!isAddress(m.address)) return;
        this.#add(this.#entry(from).open, m.address, 1);
        // Each connection made anywhere spends the address's per-minute allowance here too.
        return this.takeToken(m.address);
      case "released":
        if (isAddress(m.address)) this.#add(this.#entry(from).open, m.address, -1);
        return;
      case "admission-counts":
        return this.#summary(from, m);
      case "bye":
        return this.#drop(from);
    }
  }

  /** A summary part: the node is alive for its TTL; the last part replaces its counts. */
  #summary(from: string, m: BusMessage): void {
    const { round, part, parts, ttlMs, open } = m;
    if (
      !isCount(round) || !isCount(part) || !isCount(parts) || part >= parts || !isCount(ttlMs) ||
      !Array.isArray(open) || !open.every(isAddressCount)
    ) {
      return;
    }
    const entry = this.#entry(from);
    entry.expires = Date.now() + ttlMs;
    if (part === 0 || entry.next?.round !== round) entry.next = { round, open: new Map() };
    for (const [address, count] of open as [string, number][]) entry.next.open.set(address, count);
    if (part < parts - 1) return;
    for (const [address, count] of entry.open) this.#shift(address, -count);
    entry.open = entry.next.open;
    entry.next = undefined;
    for (const [address, count] of entry.open) this.#shift(address, count);
  }

  #entry(node: string): NodeCounts {
    let entry = this.#nodes.get(node);
    if (!entry) {
      // Until its first summary, as long as one of ours would keep it.
      entry = { open: new Map(), expires: Date.now() + this.#summaryMs * MISSED_SUMMARIES };
      this.#nodes.set(node, entry);
    }
    return entry;
  }

  /** Adds `delta` to one node's count of `address` (never below zero: a release may cross a summary). */
  #add(open: Map<string, number>, address: string, delta: number): void {
    const before = open.get(address) ?? 0;
    const after = Math.max(0, before + delta);
    if (after === 0) open.delete(address);
    else open.set(address, after);
    this.#shift(address, after - before);
  }

  /** Moves the sum over the other nodes for `address`. */
  #shift(address: string, delta: number): void {
    const sum = (this.#elsewhere.get(address) ?? 0) + delta;
    if (sum > 0) this.#elsewhere.set(address, sum);
    else this.#elsewhere.delete(address);
  }

  /** `node` is gone: its connections no longer count. */
  #drop(node: string): void {
    const entry = this.#nodes.get(node);
    if (!entry) return;
    this.#nodes.delete(node);
    for (const [address, count] of entry.open) this.#shift(address, -count);
  }
}

function isAddress(address: unknown): address is string {
  return typeof address === "string" && address.length > 0 &&
    address.length <= MAX_ADDRESS_LENGTH;
}

function isCount(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

function isAddressCount(pair: unknown): boolean {
  return Array.isArray(pair) && pair.length === 2 && isAddress(pair[0]) && isCount(pair[1]) &&
    pair[1] > 0;
}
