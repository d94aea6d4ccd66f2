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
  /** POSTs in flight at once (default 4): each holds a socket for up to attemptTimeoutMs. */
  concurrency?: number | undefined;
  /**
   * Alerts waiting for a free POST (default 100); more are merged into one `more-alerts` alert (an
   * interception or server-change alert takes the place of a queued misconfiguration's, which is merged).
   */
  maxQueued?: number | undefined;
  /**
   * `new-group` alerts per minute and classification (by the alert's `at`, default 60), stored or not; more
   * are merged into one `more-alerts` alert, sent when the minute is over.
   */
  newGroupsPerMinute?: number | undefined;
  /**
   * `new-group` alerts per minute and classification for one client (the `client` given to send(); the
   * collector names it by clientOf, an IPv6 address's /64), default 5, within newGroupsPerMinute: anyone can
   * make up interception reports (their own CA, hosts of their own), and one client's must not use up the
   * minute's alerts of a device's real one. Alerts sent with no client are held to newGroupsPerMinute only.
   */
  newGroupsPerClientPerMinute?: number | undefined;
  /** How long one POST may take before it counts as failed (default 10,000 ms). */
  attemptTimeoutMs?: number | undefined;
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
      /**
       * The alerts left out since `since`: over the new groups' rate per minute (newGroupsPerMinute) or while
       * the queue was full (maxQueued): their count by event and by classification, and some of their hosts.
       */
      event: "more-alerts";
      newGroups: number;
      rate: number;
      byClassification: Record<string, number>;
      /**
       * Up to 10 of the hosts left out, from as many clients as there are: a host of a client not named yet
       * takes the place of one of the client named most (one client's made-up hosts cannot fill them all).
       */
      hosts: string[];
      since: string;
      at: string;
    }
  | {
      /** Once per collector process: the first report of a new group that was not stored. */
      event: "storage-full";
      storedBytes: number;
      maxStoredBytes: number;
      notStored: number;
      at: string;
    };

const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000];
const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_MAX_QUEUED = 100;
const DEFAULT_NEW_GROUPS_PER_MINUTE = 60;
const DEFAULT_NEW_GROUPS_PER_CLIENT_PER_MINUTE = 5;
/** Hosts a `more-alerts` alert names. */
const SUMMARY_HOSTS = 10;

function postOnce(url: URL, body: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    let req: ReturnType<typeof httpRequest>;
    try {
      req = send(url, {
        method: "POST",
        agent: false,
        timeout: timeoutMs,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      });
    } catch (error) {
      resolve((error as Error).message);
      return;
    }
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error) => resolve(error.message));
    req.on("response", (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? undefined : `HTTP ${status}`);
    });
    req.end(body);
  });
}

type Summary = Extract<Alert, { event: "more-alerts" }>;

/**
 * Sends alerts to a webhook in the background, each retried with backoff; nothing it does can fail or
 * slow ingest. A few POSTs run at once (`concurrency`) from a bounded queue (`maxQueued`): a webhook that
 * never answers holds that many sockets, not one per alert (it held 1,002 file descriptors and devices'
 * reports were reset). What does not fit, and new groups over `newGroupsPerMinute`, are merged into one
 * `more-alerts` alert. `pending` resolves when every alert so far is delivered or given up (for tests and
 * shutdown), the merged ones included.
 */
export class AlertSender {
  readonly #options: AlertOptions;
  readonly #url: URL;
  readonly #queue: Alert[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #newGroupsPerMinute: number;
  readonly #newGroupsPerClientPerMinute: number;
  #minute = Number.NEGATIVE_INFINITY;
  /** This minute's new-group alerts by classification. */
  readonly #newGroupsThisMinute = new Map<string, number>();
  /**
   * This minute's new-group alerts by classification and client (`classification client`): a client is
   * added only when one of its alerts is let through, so it holds at most newGroupsPerMinute per
   * classification, whatever the number of clients.
   */
  readonly #clientNewGroupsThisMinute = new Map<string, number>();
  #summary: Summary | undefined;
  /** The open summary's hosts (summary.hosts, in order) with the client of each. */
  #summaryHosts: { host: string; client: string }[] = [];
  /** The merged alert in the queue, not yet sent: later ones merge into it (the queue holds one at most). */
  #queuedSummary: Summary | undefined;
  #summaryTimer: NodeJS.Timeout | undefined;

  constructor(options: AlertOptions) {
    this.#options = options;
    this.#url = new URL(options.webhook);
    if (this.#url.protocol !== "http:" && this.#url.protocol !== "https:") {
      throw new Error(`the alert webhook must be an http or https URL (got ${this.#url.protocol})`);
    }
    this.#concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.#maxQueued = Math.max(0, options.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.#newGroupsPerMinute = Math.max(0, options.newGroupsPerMinute ?? DEFAULT_NEW_GROUPS_PER_MINUTE);
    this.#newGroupsPerClientPerMinute = Math.max(
      0,
      options.newGroupsPerClientPerMinute ?? DEFAULT_NEW_GROUPS_PER_CLIENT_PER_MINUTE,
    );
  }

  get ratePerMinute(): number | undefined {
    return this.#options.ratePerMinute;
  }

  /**
   * Sends `alert` (or merges it into the next `more-alerts`). `client` names who caused it (the collector:
   * clientOf of the report's address): each client has its own share of the minute's new-group alerts
   * (newGroupsPerClientPerMinute), and the summary names hosts of as many clients as it can.
   */
  send(alert: Alert, client?: string): void {
    const minute = Math.floor(Date.parse(alert.at) / 60_000);
    if (Number.isFinite(minute) && minute > this.#minute) {
      // A new minute: what the last one left out is said now, and new groups may alert again.
      this.#minute = minute;
      this.#newGroupsThisMinute.clear();
      this.#clientNewGroupsThisMinute.clear();
      this.#flushSummary();
    }
    if (alert.event === "new-group") {
      // Per classification: made-up misconfiguration reports must not use up an interception's alerts; and
      // per client: one client's made-up interception reports must not use up a device's real one's.
      const sent = this.#newGroupsThisMinute.get(alert.classification) ?? 0;
      const byClient = client === undefined ? undefined : `${alert.classification} ${client}`;
      const clientSent = byClient === undefined ? 0 : (this.#clientNewGroupsThisMinute.get(byClient) ?? 0);
      if (
        sent >= this.#newGroupsPerMinute ||
        (byClient !== undefined && clientSent >= this.#newGroupsPerClientPerMinute)
      ) {
        this.#merge(alert, client);
        return;
      }
      this.#newGroupsThisMinute.set(alert.classification, sent + 1);
      if (byClient !== undefined) this.#clientNewGroupsThisMinute.set(byClient, clientSent + 1);
    }
    // storage-full is said once per process: it always has a place.
    if (this.#queue.length >= this.#maxQueued && alert.event !== "storage-full") {
      // A full queue: an interception or server-change alert takes the place of a misconfiguration's.
      let junk = -1;
      if (alert.event === "new-group" && alert.classification !== "misconfiguration") {
        for (let i = this.#queue.length - 1; i >= 0 && junk < 0; i--) {
          const queued = this.#queue[i] as Alert;
          if (queued.event === "new-group" && queued.classification === "misconfiguration") junk = i;
        }
      }
      if (junk < 0) {
        this.#merge(alert, client);
        return;
      }
      const [displaced] = this.#queue.splice(junk, 1);
      this.#merge(displaced as Alert, this.#clients.get(displaced as Alert));
    }
    if (client !== undefined) this.#clients.set(alert, client);
    this.#queue.push(alert);
    this.#pump();
  }

  async pending(): Promise<void> {
    this.#flushSummary();
    while (this.#inFlight.size > 0 || this.#queue.length > 0) {
      this.#pump();
      await Promise.all([...this.#inFlight]);
    }
  }

  /** The client of each queued alert that was sent with one (for the summary, should it be displaced). */
  readonly #clients = new WeakMap<Alert, string>();

  #merge(alert: Alert, client: string | undefined): void {
    if (!this.#summary && !this.#queuedSummary) {
      this.#summaryHosts = [];
      this.#summary = {
        event: "more-alerts",
        newGroups: 0,
        rate: 0,
        byClassification: {},
        hosts: [],
        since: alert.at,
        at: alert.at,
      };
      // Said when the minute is over (or at the next alert of a later minute, or at pending()).
      this.#summaryTimer = setTimeout(() => this.#flushSummary(), 60_000);
      this.#summaryTimer.unref();
    }
    const summary = (this.#summary ?? this.#queuedSummary) as Summary;
    summary.at = alert.at;
    if (alert.event === "new-group") {
      summary.newGroups += 1;
      summary.byClassification[alert.classification] =
        (summary.byClassification[alert.classification] ?? 0) + 1;
    } else if (alert.event === "rate") summary.rate += 1;
    if (alert.event === "new-group" || alert.event === "rate") this.#name(summary, alert.host, client ?? "");
  }

  /**
   * Names `host` in the summary if there is room; when there is none, a host of a client not named yet
   * takes the place of the newest host of the client named most (while that client has two or more).
   */
  #name(summary: Summary, host: string, client: string): void {
    const named = this.#summaryHosts;
    if (named.some((n) => n.host === host)) return;
    if (named.length >= SUMMARY_HOSTS) {
      if (named.some((n) => n.client === client)) return;
      const counts = new Map<string, number>();
      for (const n of named) counts.set(n.client, (counts.get(n.client) ?? 0) + 1);
      let most = "";
      let mostCount = 0;
      for (const [c, count] of counts) {
        if (count > mostCount) [most, mostCount] = [c, count];
      }
      if (mostCount < 2) return;
      let last = named.length - 1;
      while ((named[last] as { client: string }).client !== most) last -= 1;
      named.splice(last, 1);
    }
    named.push({ host, client });
    summary.hosts = named.map((n) => n.host);
  }

  /** Queues the merged alert, if any: one place past maxQueued is kept for it. */
  #flushSummary(): void {
    clearTimeout(this.#summaryTimer);
    this.#summaryTimer = undefined;
    const summary = this.#summary;
    if (!summary) return;
    this.#summary = undefined;
    this.#queuedSummary = summary;
    this.#queue.push(summary);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight.size < this.#concurrency && this.#queue.length > 0) {
      const alert = this.#queue.shift() as Alert;
      if (alert === this.#queuedSummary) this.#queuedSummary = undefined;
      const job: Promise<void> = this.#deliver(alert).finally(() => {
        this.#inFlight.delete(job);
        this.#pump();
      });
      this.#inFlight.add(job);
    }
  }

  async #deliver(alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    const delays = this.#options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const timeout = this.#options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    let why: string | undefined;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, delays[attempt - 1]).unref());
      why = await postOnce(this.#url, body, timeout);
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
