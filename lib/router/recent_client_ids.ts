import type { ClientIdRecord } from "../store/store.ts";

/**
 * Outcomes of recent sends by client id, so a client that resends after a lost reply gets the
 * first outcome again instead of a second delivery. Bounded: the oldest entries go first.
 * (Stored messages also keep their client id in the store, which outlives restarts.)
 */
export class RecentClientIds {
  #map = new Map<string, ClientIdRecord>();
  #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get(senderKey: string, cid: string): ClientIdRecord | undefined {
    return this.#map.get(`${senderKey}\n${cid}`);
  }

  set(senderKey: string, cid: string, record: ClientIdRecord): void {
    const key = `${senderKey}\n${cid}`;
    this.#map.delete(key);
    this.#map.set(key, record);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }
}
