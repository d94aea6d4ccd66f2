/**
 * The TLS sessions one pinned client may resume, by a key that names the destination (host, port, server name and
 * the options that shape a handshake). A session enters only from a handshake of that client that Node verified
 * (Node emits 'session' after `checkServerIdentity` passed), so resuming it for the same key resumes a checked
 * handshake with the same check. Bounded: the oldest entry goes first.
 */
export class SessionCache<T = Buffer> {
  readonly #limit: number;
  readonly #map = new Map<string, T>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: string): T | undefined {
    return this.#map.get(key);
  }

  set(key: string, session: T): void {
    if (this.#limit <= 0) return;
    this.#map.delete(key);
    if (this.#map.size >= this.#limit) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, session);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }
}
