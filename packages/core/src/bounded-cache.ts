/** The byte budget of a {@link BoundedCache}: at most `maxBytes` in all, each entry weighed by `sizeOf`. */
export interface BoundedCacheBytes<V> {
  /** The most bytes all entries together may hold (as `sizeOf` weighs them). */
  maxBytes: number;
  /**
   * What one entry holds in memory, in bytes, its key included: an estimate that must not be below the truth for
   * any value a peer can make (e.g. a multiple of a certificate's DER length), since the budget trusts it.
   */
  sizeOf: (value: V, key: string) => number;
}

/**
 * A Map that forgets its oldest entries past `limit` entries and, with a byte budget, past `maxBytes` bytes: every
 * cache in keypin is bounded, so that what peers send (new certificates, names, hosts) can never make one grow
 * without bound. Counting entries alone is not enough when an entry's size is the peer's choice (a certificate
 * can be 100 KB), so caches of such values give a budget too: an entry larger than the whole budget is not stored.
 * Keys are strings. Setting a key already held replaces its value; with a byte budget it also becomes the newest
 * entry, without one it keeps its place (count-only caches hold values that do not change for a key).
 */
export class BoundedCache<V> {
  readonly #limit: number;
  readonly #map = new Map<string, V>();
  readonly #budget: BoundedCacheBytes<V> | undefined;
  /** Each entry's weight, only with a byte budget. */
  readonly #sizes: Map<string, number> | undefined;
  #bytes = 0;

  constructor(limit: number, bytes?: BoundedCacheBytes<V>) {
    this.#limit = limit;
    if (bytes !== undefined) {
      if (!(bytes.maxBytes > 0) || !Number.isFinite(bytes.maxBytes)) {
        throw new RangeError(
          `BoundedCache: maxBytes must be a positive finite number, got ${bytes.maxBytes}.`,
        );
      }
      if (typeof bytes.sizeOf !== "function") {
        throw new TypeError("BoundedCache: a byte budget needs a sizeOf function.");
      }
      this.#budget = { maxBytes: bytes.maxBytes, sizeOf: bytes.sizeOf };
      this.#sizes = new Map();
    }
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    if (this.#budget === undefined) {
      if (this.#map.size >= this.#limit && !this.#map.has(key)) {
        const oldest = this.#map.keys().next();
        if (!oldest.done) this.#map.delete(oldest.value);
      }
      this.#map.set(key, value);
      return;
    }
    this.#delete(key);
    const size = this.#budget.sizeOf(value, key);
    // NaN or a negative weight would let the budget be passed: such an entry is not stored.
    if (!(size >= 0) || size > this.#budget.maxBytes || this.#limit < 1) return;
    while (this.#map.size >= this.#limit || this.#bytes + size > this.#budget.maxBytes) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#delete(oldest.value);
    }
    this.#map.set(key, value);
    this.#sizes!.set(key, size);
    this.#bytes += size;
  }

  #delete(key: string): void {
    const size = this.#sizes!.get(key);
    if (size === undefined) return;
    this.#sizes!.delete(key);
    this.#map.delete(key);
    this.#bytes -= size;
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** The bytes held, as `sizeOf` weighed the entries (0 without a byte budget). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The byte budget (Infinity without one). */
  get maxBytes(): number {
    return this.#budget?.maxBytes ?? Number.POSITIVE_INFINITY;
  }

  /** The keys held, oldest first. */
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }
}
