/**
 * A bounded map that forgets the least recently used entries, by count and by total size, so
 * the memory layer of the translation cache cannot grow without bound.
 */
export class LruCache<V> {
  #map = new Map<string, { value: V; size: number }>();
  #maxEntries: number;
  #maxSize: number;
  #size = 0;
  #sizeOf: (v: V) => number;

  /** `sizeOf` measures an entry (e.g. characters of text) for the `maxSize` bound. */
  constructor(maxEntries: number, maxSize = Infinity, sizeOf: (v: V) => number = () => 1) {
    this.#maxEntries = maxEntries;
    this.#maxSize = maxSize;
    this.#sizeOf = sizeOf;
  }

  get(key: string): V | undefined {
    const entry = this.#map.get(key);
    if (!entry) return undefined;
    // Re-insert: a Map iterates in insertion order, so the first key is the least recent.
    this.#map.delete(key);
    this.#map.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    const old = this.#map.get(key);
    if (old) {
      this.#size -= old.size;
      this.#map.delete(key);
    }
    const size = this.#sizeOf(value);
    if (this.#maxEntries <= 0 || size > this.#maxSize) return;
    this.#map.set(key, { value, size });
    this.#size += size;
    while (this.#map.size > this.#maxEntries || this.#size > this.#maxSize) {
      const [oldest, entry] = this.#map.entries().next().value!;
      this.#map.delete(oldest);
      this.#size -= entry.size;
    }
  }

  get size(): number {
    return this.#map.size;
  }
}
