import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** Where and when the collector sends alerts. */
export interface AlertOptions {
  /** The webhook: each alert is one JSON POST to it. */
  webhook: string;
  /** Alert when a host's reports in one minute reach this many (once per host and minute). */
  ratePerMinute?: number | undefined;
  /** Waits before each retry of a failed POST (network error, 408, 429 or 5xx); default 1, 2, 4, 8, 16 s. */
  retryDelaysMs?: readonly number[] | undefined;
  /** Told when an alert could not be delivered after every retry. */
  onGiveUp?: ((alert: Alert, why: string) => void) | undefined;
}

/** The JSON body of an alert. */
export type Alert =
  | {
      event: "new-group";
      host: string;
      port: number;
      classification: string;
      evidence: readonly string[];
      group: string;
      /**
       * False when the group was not stored (the byte budget, or its client's share, is full): the alert is
       * the only trace of it besides the store's notStored count.
       */
      stored: boolean;
      at: string;
    }
  | { event: "rate"; host: string; minute: string; count: number; threshold: number; at: string }
  | {
      /** Once per collector process: the first report of a new group that was not stored. */
      event: "storage-full";
      storedBytes: number;
      maxStoredBytes: number;
      notStored: number;
      at: string;
    };

const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000];
const ATTEMPT_TIMEOUT_MS = 10_000;

function postOnce(url: URL, body: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    let req: ReturnType<typeof httpRequest>;
    try {
      req = send(url, {
        method: "POST",
        agent: false,
        timeout: ATTEMPT_TIMEOUT_MS,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      });
    } catch (error) {
      resolve((error as Error).message);
      return;
    }
    req.on("timeout", () => req.destroy(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS} ms`)));
    req.on("error", (error) => resolve(error.message));
    req.on("response", (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? undefined : `HTTP ${status}`);
    });
    req.end(body);
  });
}

/**
 * Sends alerts to a webhook in the background, each retried with backoff; nothing it does can fail or
 * slow ingest. `pending` resolves when every alert so far is delivered or given up (for tests and shutdown).
 */
export class AlertSender {
  readonly #options: AlertOptions;
  readonly #url: URL;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: AlertOptions) {
    this.#options = options;
    this.#url = new URL(options.webhook);
    if (this.#url.protocol !== "http:" && this.#url.protocol !== "https:") {
      throw new Error(`the alert webhook must be an http or https URL (got ${this.#url.protocol})`);
    }
  }

  get ratePerMinute(): number | undefined {
    return this.#options.ratePerMinute;
  }

  send(alert: Alert): void {
    const job = this.#deliver(alert).finally(() => this.#inFlight.delete(job));
    this.#inFlight.add(job);
  }

  async pending(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #deliver(alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    const delays = this.#options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    let why: string | undefined;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, delays[attempt - 1]).unref());
      why = await postOnce(this.#url, body);
      if (why === undefined) return;
      if (/^HTTP (4\d\d)$/.test(why) && !/^HTTP (408|429)$/.test(why)) break; // the webhook refuses it: do not retry
    }
    try {
      this.#options.onGiveUp?.(alert, why ?? "unknown");
    } catch {
      // a listener's error must not escape
    }
  }
}
