import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { BoundedCache, type PinFailureReport, reportDedupeKey } from "@keypin/core";
import { describeThrown } from "./errors.js";
import { sha256 } from "./sha256.js";

/** The same report is sent (and handed to `onReport`) at most once per this many milliseconds. */
export const REPORT_INTERVAL_MS = 24 * 60 * 60 * 1000;
/** A report POST ends after this long, answered or not (a deadline for the whole exchange, not an idle timer). */
export const REPORT_TIMEOUT_MS = 10_000;
/**
 * Report POSTs in flight at once, per process and per report URI origin. Reports are deduplicated by content, so a
 * forging network that varies its leaf on every connection makes every failure a new report: without a cap each one
 * opened a connection, and a report server that answered a byte at a time kept every one open (review). Reports
 * beyond the cap are dropped, with a warning; `onReport` still receives them.
 */
export const MAX_REPORTS_IN_FLIGHT = 4;
export const MAX_REPORTS_IN_FLIGHT_PER_ORIGIN = 2;
let inFlight = 0;
const inFlightByOrigin = new Map<string, number>();

/** @internal For keypin's own tests only: report POSTs in flight now. */
export function reportsInFlight(): number {
  return inFlight;
}

/**
 * Per process, as TrustKit does: SHA-256 (base64) of the dedupe key → when it was last reported (by the reporter's
 * clock). The digest, not the key: the key holds the report's chains as PEM (a forging peer's 80 KB leaf made each
 * key ~225 KB, and 1024 of them ~230 MB; review F2). Two reports share an entry only if SHA-256 collides. Each entry
 * is then a 44-character key and a number, weighed at 2 bytes a character + 32: 1024 of them fit in 256 KiB.
 */
export const REPORT_CACHE_BYTES = 256 * 1024;
const lastReported = new BoundedCache<number>(1024, {
  maxBytes: REPORT_CACHE_BYTES,
  sizeOf: (_when, key) => 2 * key.length + 32,
});

/** @internal For keypin's own tests only: the report limit's entries, their keys (digests) and weighed bytes. */
export function reportCacheStats(): { size: number; bytes: number; maxBytes: number; keys: string[] } {
  return {
    size: lastReported.size,
    bytes: lastReported.bytes,
    maxBytes: lastReported.maxBytes,
    keys: [...lastReported.keys()],
  };
}

/** Options of a {@link ReportSender}. */
export interface ReportSenderOptions {
  onReport?: ((report: PinFailureReport) => void) | undefined;
  onWarning: (message: string) => void;
  /** POST reports to the domain's reportUris (default true). */
  send?: boolean | undefined;
  /** Milliseconds since the epoch; injectable for tests of the 24-hour limit. */
  now?: (() => number) | undefined;
  /** @internal For keypin's own tests: the deadline of one POST (default REPORT_TIMEOUT_MS). */
  timeoutMs?: number | undefined;
}

/**
 * Hands pin-failure reports to `onReport` and POSTs them as JSON to the report URIs with a plain, unpinned
 * client, in the background: `submit` returns at once and nothing it starts can fail or slow a request.
 */
export class ReportSender {
  readonly #options: ReportSenderOptions;
  #lastDropWarning = Number.NEGATIVE_INFINITY;

  constructor(options: ReportSenderOptions) {
    this.#options = options;
  }

  /** Whether an `onReport` callback was given. */
  get hasListener(): boolean {
    return this.#options.onReport !== undefined;
  }

  /** Queues a report unless the same one went out within 24 hours. Returns whether it was queued. */
  submit(report: PinFailureReport, reportUris: readonly string[]): boolean {
    const now = (this.#options.now ?? Date.now)();
    const key = sha256.base64!(Buffer.from(reportDedupeKey(report), "utf8"));
    const last = lastReported.get(key);
    if (last !== undefined && now - last < REPORT_INTERVAL_MS) return false;
    lastReported.set(key, now);
    setImmediate(() => {
      try {
        this.#deliver(report, reportUris);
      } catch {
        // nothing a report or a listener does may end the process (warnings are already guarded)
      }
    });
    return true;
  }

  #deliver(report: PinFailureReport, reportUris: readonly string[]): void {
    if (this.#options.onReport) {
      try {
        this.#options.onReport(report);
      } catch (error) {
        this.#options.onWarning(`keypin: onReport threw: ${describeThrown(error)}`);
      }
    }
    if (this.#options.send === false) return;
    const body = JSON.stringify(report);
    for (const uri of reportUris) this.#post(uri, body);
  }

  #post(uri: string, body: string): void {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      this.#options.onWarning(`keypin: report URI "${uri}" is not a URL; report not sent.`);
      return;
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const warn = (why: string): void =>
      this.#options.onWarning(`keypin: could not send a pin failure report to ${url.origin}: ${why}`);
    const origin = url.origin;
    const ofOrigin = inFlightByOrigin.get(origin) ?? 0;
    if (inFlight >= MAX_REPORTS_IN_FLIGHT || ofOrigin >= MAX_REPORTS_IN_FLIGHT_PER_ORIGIN) {
      // One warning per minute of drops: a flood of failures must not become a flood of warnings.
      const now = Date.now();
      if (now - this.#lastDropWarning >= 60_000) {
        this.#lastDropWarning = now;
        warn(
          `${ofOrigin} reports to it (${inFlight} in all) are still being sent; reports are dropped meanwhile`,
        );
      }
      return;
    }
    inFlight++;
    inFlightByOrigin.set(origin, ofOrigin + 1);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      inFlight--;
      const left = (inFlightByOrigin.get(origin) ?? 1) - 1;
      if (left > 0) inFlightByOrigin.set(origin, left);
      else inFlightByOrigin.delete(origin);
    };
    const timeoutMs = this.#options.timeoutMs ?? REPORT_TIMEOUT_MS;
    let req: ReturnType<typeof httpRequest> | undefined;
    const deadline = setTimeout(() => {
      req?.destroy(new Error(`no complete answer within ${timeoutMs} ms`));
      finish();
    }, timeoutMs);
    deadline.unref();
    try {
      req = send(url, {
        method: "POST",
        // A fresh connection: never a pinned agent's socket, never keeping the process alive.
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      });
      req.on("socket", (socket) => socket.unref());
      let answered = false;
      req.on("error", (error) => {
        finish();
        if (!answered) warn(error.message);
      });
      req.on("close", finish);
      req.on("response", (res) => {
        // The status is all a report needs: the body is never read, whatever its length or pace.
        const status = res.statusCode;
        answered = true;
        res.destroy();
        req?.destroy();
        finish();
        if (status === undefined || status >= 400) warn(`HTTP ${status}`);
      });
      req.end(body);
    } catch (error) {
      finish();
      warn((error as Error).message);
    }
  }
}
