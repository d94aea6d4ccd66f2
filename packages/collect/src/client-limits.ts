/** One client's allowance in one minute: its reports, and its signature checks' cost left (see ingest.ts). */
export interface ClientMinute {
  readonly minute: number;
  reports: number;
  /** What classify may still spend verifying signatures for this client this minute (SignatureBudget). */
  left: number;
}

/**
 * Per-client allowances by minute, for at most `maxClients` clients (a flood of addresses must not grow the
 * map without bound). A client is what the caller names it (the collector: clientOf, an IPv6 address's /64,
 * as the storage share counts it). When the map is full, the client seen longest ago is forgotten, not every
 * client (emptying it gave each limited client its allowance back).
 */
export class ClientMinutes {
  readonly #clients = new Map<string, ClientMinute>();
  readonly #maxClients: number;
  readonly #signatureCost: number;

  constructor(options: { maxClients: number; signatureCostPerMinute: number }) {
    this.#maxClients = Math.max(1, options.maxClients);
    this.#signatureCost = options.signatureCostPerMinute;
  }

  /** The client's allowance for `minute`, a fresh one at the start of each minute. */
  of(client: string, minute: number): ClientMinute {
    let entry = this.#clients.get(client);
    if (entry !== undefined && entry.minute === minute) return entry;
    // Deleted and set again: the map's order is then the order clients were last given an allowance.
    if (entry !== undefined) this.#clients.delete(client);
    else if (this.#clients.size >= this.#maxClients) {
      const oldest = this.#clients.keys().next();
      if (!oldest.done) this.#clients.delete(oldest.value);
    }
    entry = { minute, reports: 0, left: this.#signatureCost };
    this.#clients.set(client, entry);
    return entry;
  }

  get size(): number {
    return this.#clients.size;
  }
}
