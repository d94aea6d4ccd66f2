import { createHash, timingSafeEqual, X509Certificate } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, isIP } from "node:net";
import { BoundedCache } from "@keypin/core";
import type { AlertSender } from "./alerts.js";
import { ClientMinutes } from "./client-limits.js";
import { dashboardHtml } from "./dashboard.js";
import { classifyReport, groupKey, parseReport, ReportRejected, SignatureBudgetSpent } from "./ingest.js";
import type { GroupRecord, ReportStore } from "./store.js";

/** GET /api/groups answers this many groups unless `limit` says otherwise, and never more than MAX_GROUPS_PAGE. */
export const DEFAULT_GROUPS_PAGE = 100;
export const MAX_GROUPS_PAGE = 500;
/** GET /api/series answers the newest this many points (host, minute) unless `limit` says otherwise, at most the max. */
export const DEFAULT_SERIES_POINTS = 10_000;
export const MAX_SERIES_POINTS = 100_000;

/**
 * Alerts for reports of new groups that were not stored (interception and server-change only): each group
 * once (remembered up to UNSTORED_ALERT_KEYS groups); the AlertSender limits new-group alerts per minute,
 * and each client's share of them (the report's client is given with each alert).
 */
const UNSTORED_ALERT_KEYS = 10_000;

/**
 * The client a report's bytes are counted against (GroupUpsert.client): its IPv4 address, or the /64 of its
 * IPv6 address (one host is given a /64 and can send from any address in it).
 */
export function clientOf(address: string): string {
  const a = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").toLowerCase();
  if (isIP(a) !== 6) return a;
  const [head = "", tail] = a.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  // An embedded IPv4 tail is two groups; only the first four groups matter here.
  const width = right.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const groups =
    tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - width)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** Clients whose minute is remembered (ClientMinutes): past it, the one seen longest ago is forgotten. */
const MAX_CLIENTS = 100_000;
/** signatureCostPerClientPerMinute's default. */
export const DEFAULT_SIGNATURE_COST_PER_MINUTE = 3000;

/** The largest report body accepted; larger bodies are answered 413. */
export const MAX_REPORT_BYTES = 64 * 1024;
/** A body over the limit is read (and discarded) up to this many bytes so the 413 arrives, then the socket closes. */
const MAX_DRAIN_BYTES = 1024 * 1024;

export interface CollectorOptions {
  store: ReportStore;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /** Called for a store failure (answered 503): the collector keeps running. */
  onError?: (error: unknown) => void;
  /**
   * Required (as `Authorization: Bearer TOKEN`) to read the API; ingest never needs it (devices cannot
   * hold one). `keypin collect` demands one when bound to anything but loopback.
   */
  token?: string | undefined;
  /**
   * Reports accepted from one client (its address, an IPv6 one's /64: clientOf) per minute (default 6,000);
   * more are answered 429 with Retry-After, before their body is parsed.
   */
  perClientPerMinute?: number | undefined;
  /**
   * What classifying one client's reports may spend on signature checks per minute, in RSA-2048
   * verifications (default 3,000: ~0.1 s of CPU; a chain the collector has checked before costs nothing).
   * A report that needs more is answered 429 ERR_COLLECT_SIGNATURE_BUDGET with Retry-After, not stored.
   */
  signatureCostPerClientPerMinute?: number | undefined;
  /** A client that has not sent its request headers, or its whole request, within this many ms is cut off (default 10,000 / 30,000). */
  headersTimeoutMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** A webhook for new groups and for a host's rate per minute passing a threshold. */
  alerts?: AlertSender | undefined;
  /** The public roots for classification (PEM); default Node's bundled root store. */
  publicRoots?: readonly string[] | undefined;
  /**
   * Host header values (`name:port`, or `name` for any port) accepted besides the listening address's own
   * names. On a loopback address with no token every other Host is refused 403 (ERR_COLLECT_HOST): a web
   * page that rebinds its DNS name to 127.0.0.1 must not read the reports nor post its own. A reverse proxy
   * in front of such a collector either sends Host 127.0.0.1:PORT or is named here.
   */
  allowedHosts?: readonly string[] | undefined;
}

export interface Collector {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/** The headers every answer carries besides its type and length (`send`'s and the 201's alike). */
const COMMON_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" } as const;
/** The same, as the flat name, value list the 201 is written with. */
const COMMON_HEADER_LIST = Object.entries(COMMON_HEADERS).flat();

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = typeof body === "string" ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/html; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(text),
    ...COMMON_HEADERS,
    ...headers,
  });
  res.end(text);
}

/**
 * The 201 for an ingested report, the bytes JSON.stringify would give ({stored, group, classification}):
 * the key is hex and the classification one of a few plain words, so neither needs escaping; written with
 * no header object merged per report.
 */
function stored(res: ServerResponse, key: string, classification: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `{"stored":true,"group":"${key}","classification":"${classification}"}\n`;
  res.writeHead(201, [
    "content-type",
    "application/json",
    "content-length",
    String(text.length),
    ...COMMON_HEADER_LIST,
  ]);
  res.end(text);
}

/** A refusal with a stable code beside the message: `{"error": message, "code": code}`. */
function refuse(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, { error: message, code }, headers);
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.replace(/^::ffff:/i, "");
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/**
 * Whether `host` (a Host header) names this collector listening on loopback at `address`: 127.0.0.1,
 * localhost, [::1] or the address itself (with any port or none: a rebinding page's Host carries its own
 * name, and the name is what tells it apart), or one of `extra`.
 */
export function isAllowedCollectorHost(
  host: string | undefined,
  address: string,
  extra: readonly string[] = [],
): boolean {
  if (host === undefined) return false;
  const value = host.toLowerCase();
  // An entry without a port names the host on any port.
  if (extra.includes(value) || extra.includes(value.replace(/:[0-9]+$/, ""))) return true;
  const own = address.replace(/^::ffff:/i, "");
  const names = [...LOOPBACK_NAMES, own.includes(":") ? `[${own}]` : own];
  const name = value.replace(/:[0-9]{1,5}$/, "");
  // An IP address too: a rebinding page's Host always carries the attacker's *name*, while an emulator
  // (10.0.2.2) or a port-forward reaches loopback under an address (review). Not the unspecified address,
  // which browsers route to this machine from any page.
  const ip = name.replace(/^\[|\]$/g, "");
  return names.includes(name) || (isIP(ip) !== 0 && ip !== "0.0.0.0" && ip !== "::");
}

/** The request's media type without parameters, lowercased. */
const mediaType = (req: IncomingMessage): string =>
  (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";

function tooLarge(req: IncomingMessage, res: ServerResponse): void {
  send(res, 413, { error: `the report body is over ${MAX_REPORT_BYTES} bytes` }, { connection: "close" });
  // Keep reading (and discarding) so the client sees the 413 rather than a reset; then close.
  let drained = 0;
  req.removeAllListeners("data");
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAIN_BYTES) req.socket.destroy();
  });
  req.resume();
}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
  return new Promise((resolve) => {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > MAX_REPORT_BYTES) {
      tooLarge(req, res);
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_REPORT_BYTES) {
        over = true;
        tooLarge(req, res);
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", () => resolve(undefined));
    req.on("aborted", () => resolve(undefined));
  });
}

/** What `GET /api/groups` returns for one group. */
function groupJson(g: GroupRecord): Record<string, unknown> {
  return {
    host: g.host,
    port: g.port,
    notedHost: g.notedHost,
    count: g.count,
    firstSeen: g.firstSeen,
    lastSeen: g.lastSeen,
    classification: g.classification,
    evidence: g.evidence,
    result: g.result,
    source: g.source,
    knownPins: g.knownPins,
    servedChain: g.servedChain,
    validatedChain: g.validatedChain,
    chain: describeChain(g.validatedChain.length > 0 ? g.validatedChain : g.servedChain),
    id: g.key,
  };
}

/** Subject, issuer and pin of each certificate, for the dashboard (a certificate that does not parse is named so). */
type CertDescription = { subject: string; issuer: string; pin: string };
/** Descriptions by PEM: a page of groups repeats a few certificates (bounded in count and in bytes). */
const descriptions = new BoundedCache<CertDescription>(2048, {
  maxBytes: 4 * 1024 * 1024,
  sizeOf: (d, pem) => 2 * (pem.length + d.subject.length + d.issuer.length + d.pin.length),
});

function describeChain(pems: readonly string[]): CertDescription[] {
  return pems.map((pem) => {
    let known = descriptions.get(pem);
    if (known === undefined) {
      known = describeCert(pem);
      descriptions.set(pem, known);
    }
    return known;
  });
}

function describeCert(pem: string): CertDescription {
  try {
    const cert = new X509Certificate(pem);
    const pin = createHash("sha256")
      .update(cert.publicKey.export({ type: "spki", format: "der" }))
      .digest("base64");
    return { subject: cert.subject.replace(/\n/g, ", "), issuer: cert.issuer.replace(/\n/g, ", "), pin };
  } catch {
    return { subject: "(does not parse)", issuer: "", pin: "" };
  }
}

/**
 * The collector's HTTP server: `POST /report` (ingest), `GET /api/groups[?host=]`, `GET /api/series[?host=]`
 * and the dashboard at `/`. Nothing a client sends yields a 500: bad bodies are 400 with the reason, large
 * ones 413, a store failure 503.
 */
export function createCollectorServer(options: CollectorOptions): Server {
  const now = options.now ?? Date.now;
  const perClientLimit = options.perClientPerMinute ?? 6000;
  const perClient = new ClientMinutes({
    maxClients: MAX_CLIENTS,
    signatureCostPerMinute: options.signatureCostPerClientPerMinute ?? DEFAULT_SIGNATURE_COST_PER_MINUTE,
  });
  const tokenDigest = options.token ? createHash("sha256").update(options.token).digest() : undefined;
  const authorized = (header: string | undefined): boolean => {
    const m = /^Bearer (.+)$/.exec(header ?? "");
    if (!m?.[1] || !tokenDigest) return false;
    return timingSafeEqual(createHash("sha256").update(m[1]).digest(), tokenDigest);
  };
  // Classification is remembered per group in ingest.ts (classifyReport), under a key of what it reads
  // built while parsing (the group key and PEM cache ids: no hashing per report).
  const classifyOptions = { publicRoots: options.publicRoots };
  const allowedHosts = (options.allowedHosts ?? []).map((h) => h.toLowerCase());
  let warnedFull = false;
  /** Unstored groups already alerted. */
  const unstoredAlerted = new Set<string>();
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Ingest's own target is taken as it is; anything else is parsed (a query, an encoded path).
    const target = req.url ?? "/";
    let url: URL | undefined;
    let path = target;
    if (target !== "/report" && target !== "/report/") {
      try {
        url = new URL(target, "http://collector.invalid");
      } catch {
        send(res, 400, { error: "the request target is not a path" });
        return;
      }
      path = url.pathname;
    }
    // DNS rebinding: on loopback with no token, the Host must name this collector (see allowedHosts).
    const socket = req.socket;
    if (!tokenDigest && isLoopbackAddress(socket.localAddress)) {
      if (!isAllowedCollectorHost(req.headers.host, socket.localAddress as string, allowedHosts)) {
        refuse(
          res,
          403,
          "ERR_COLLECT_HOST",
          `expected Host 127.0.0.1, localhost or [::1] (this collector listens on loopback with no token), got ${JSON.stringify(req.headers.host ?? "none").slice(0, 120)}: a page whose DNS name points at 127.0.0.1 is refused; behind a reverse proxy, send Host 127.0.0.1:${socket.localPort} or name the host in allowedHosts (--allow-host)`,
          { connection: "close" },
        );
        req.resume();
        return;
      }
    }
    if (path === "/report" || path === "/report/") {
      if (req.method !== "POST") {
        send(res, 405, { error: `POST a report to /report (got ${req.method})` }, { allow: "POST" });
        req.resume();
        return;
      }
      // Counted per client as the storage share counts it: an IPv6 host has a whole /64 to send from.
      const client = clientOf(req.socket.remoteAddress ?? "?");
      const minute = Math.floor(now() / 60_000);
      const bucket = perClient.of(client, minute);
      bucket.reports += 1;
      if (bucket.reports > perClientLimit) {
        const retry = String(60 - Math.floor((now() / 1000) % 60));
        send(
          res,
          429,
          { error: `over ${perClientLimit} reports a minute from ${client}; retry in ${retry} s` },
          {
            "retry-after": retry,
            connection: "close",
          },
        );
        req.resume();
        return;
      }
      // A web page's cross-site POST: devices and servers (TrustKit, @keypin/node) send no Origin and
      // application/json, which a page can send elsewhere only after a CORS preflight this server never grants.
      const origin = req.headers.origin;
      if (
        (origin !== undefined &&
          origin.toLowerCase() !== `http://${(req.headers.host ?? "").toLowerCase()}`) ||
        req.headers["sec-fetch-site"] === "cross-site"
      ) {
        refuse(
          res,
          403,
          "ERR_COLLECT_ORIGIN",
          `a report from a web page of another origin is refused (Origin ${JSON.stringify(origin ?? "none").slice(0, 120)}, Sec-Fetch-Site ${JSON.stringify(req.headers["sec-fetch-site"] ?? "none")}): report senders send no Origin`,
          { connection: "close" },
        );
        req.resume();
        return;
      }
      if (mediaType(req) !== "application/json") {
        refuse(
          res,
          415,
          "ERR_COLLECT_CONTENT_TYPE",
          `expected Content-Type application/json, got ${JSON.stringify(req.headers["content-type"] ?? "none").slice(0, 120)}: send the report as JSON (TrustKit and @keypin/node do)`,
          { connection: "close" },
        );
        req.resume();
        return;
      }
      const body = await readBody(req, res);
      if (body === undefined) return;
      let upsert: Parameters<ReportStore["record"]>[0][number];
      try {
        const report = parseReport(body);
        const { classification, evidence } = classifyReport(report, {
          ...classifyOptions,
          signatureBudget: bucket,
        });
        upsert = {
          key: groupKey(report),
          host: report.host,
          port: report.port,
          notedHost: report.notedHost,
          servedChain: [...report.servedChain],
          validatedChain: [...report.validatedChain],
          knownPins: [...report.knownPins],
          result: report.result,
          source: report.source,
          classification,
          evidence: [...evidence],
          seenAt: now(),
          client,
        };
      } catch (error) {
        if (error instanceof SignatureBudgetSpent) {
          const retry = String(60 - Math.floor((now() / 1000) % 60));
          refuse(res, 429, error.code, `${error.message} (${client}; retry in ${retry} s)`, {
            "retry-after": retry,
          });
          return;
        }
        if (error instanceof ReportRejected) {
          send(res, 400, { error: error.message });
          return;
        }
        send(res, 400, { error: `the report could not be read: ${(error as Error).message}` });
        return;
      }
      let outcome: Awaited<ReturnType<ReportStore["record"]>>[number] | undefined;
      try {
        [outcome] = await options.store.record([upsert]);
      } catch (error) {
        options.onError?.(error);
        send(res, 503, { error: "the report could not be stored; retry later" }, { "retry-after": "10" });
        return;
      }
      const alerts = options.alerts;
      if (outcome && !outcome.stored) {
        // Not stored (the byte budget's share for its classification, or its client's share, is full):
        // counted (GET /api/groups: storage.notStored). Said once, and a report that matters still alerts.
        const byClient = outcome.refused === "client";
        if (!warnedFull) {
          warnedFull = true;
          options.onError?.(
            new Error(
              "the store is at its byte budget (maxStoredBytes, or a share of it): reports of new groups are counted, not stored, and only interception and server-change reports alert; raise the budget, or prune (retainDays)",
            ),
          );
          if (alerts) {
            const at = new Date(upsert.seenAt).toISOString();
            options.store.usage().then(
              (usage) => alerts.send({ event: "storage-full", ...usage, at }),
              (error) => options.onError?.(error),
            );
          }
        }
        if (alerts && upsert.classification !== "misconfiguration" && !unstoredAlerted.has(upsert.key)) {
          // Past the sender's new groups per minute (or this client's share of them), it is counted in one
          // more-alerts alert.
          if (unstoredAlerted.size >= UNSTORED_ALERT_KEYS) unstoredAlerted.clear();
          unstoredAlerted.add(upsert.key);
          alerts.send(
            {
              event: "new-group",
              host: upsert.host,
              port: upsert.port,
              classification: upsert.classification,
              evidence: upsert.evidence,
              group: upsert.key,
              stored: false,
              at: new Date(upsert.seenAt).toISOString(),
            },
            client,
          );
        }
        send(res, 202, {
          stored: false,
          group: upsert.key,
          reason: byClient
            ? "this client's share of the collector's storage is full: this report is counted, not stored"
            : "the collector's storage is full: this report is counted, not stored",
        });
        return;
      }
      stored(res, upsert.key, upsert.classification);
      if (alerts && outcome) {
        const at = new Date(upsert.seenAt).toISOString();
        if (outcome.created) {
          alerts.send(
            {
              event: "new-group",
              host: upsert.host,
              port: upsert.port,
              classification: upsert.classification,
              evidence: upsert.evidence,
              group: upsert.key,
              stored: true,
              at,
            },
            client,
          );
        }
        // Exactly one report makes the count equal the threshold, on one collector even in a fleet.
        if (alerts.ratePerMinute !== undefined && outcome.minuteCount === alerts.ratePerMinute) {
          alerts.send(
            {
              event: "rate",
              host: upsert.host,
              minute: new Date(Math.floor(upsert.seenAt / 60_000) * 60_000).toISOString(),
              count: outcome.minuteCount,
              threshold: alerts.ratePerMinute,
              at,
            },
            client,
          );
        }
      }
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, { error: `${path} is read with GET` }, { allow: "GET" });
      req.resume();
      return;
    }
    req.resume();
    if (path.startsWith("/api/") && tokenDigest && !authorized(req.headers.authorization)) {
      send(
        res,
        401,
        {
          error:
            "this collector's API needs its token: Authorization: Bearer <token> (the dashboard: /#token=<token>)",
        },
        { "www-authenticate": 'Bearer realm="keypin collect"' },
      );
      return;
    }
    const query = url?.searchParams ?? new URLSearchParams();
    const host = query.get("host")?.toLowerCase() ?? undefined;
    try {
      if (path === "/api/groups") {
        const limitText = query.get("limit");
        const offsetText = query.get("offset");
        if (
          (limitText !== null && !/^[0-9]{1,4}$/.test(limitText)) ||
          (offsetText !== null && !/^[0-9]{1,9}$/.test(offsetText))
        ) {
          refuse(
            res,
            400,
            "ERR_COLLECT_PAGE",
            `expected limit (1 to ${MAX_GROUPS_PAGE}) and offset as whole numbers, got limit ${JSON.stringify(limitText)} offset ${JSON.stringify(offsetText)}`,
          );
          return;
        }
        const limit = Math.min(
          MAX_GROUPS_PAGE,
          Math.max(1, limitText === null ? DEFAULT_GROUPS_PAGE : Number(limitText)),
        );
        const offset = offsetText === null ? 0 : Number(offsetText);
        // One more than the page tells whether there is a next one.
        const groups = await options.store.groups({ host, limit: limit + 1, offset });
        const more = groups.length > limit;
        send(res, 200, {
          groups: groups.slice(0, limit).map(groupJson),
          limit,
          offset,
          nextOffset: more ? offset + limit : null,
          storage: await options.store.usage(),
        });
      } else if (path === "/api/series") {
        const sinceParam = query.get("since");
        const sinceMs =
          sinceParam !== null && Number.isFinite(Date.parse(sinceParam)) ? Date.parse(sinceParam) : 0;
        const limitText = query.get("limit");
        if (limitText !== null && !/^[0-9]{1,6}$/.test(limitText)) {
          refuse(
            res,
            400,
            "ERR_COLLECT_PAGE",
            `expected limit (1 to ${MAX_SERIES_POINTS}) as a whole number, got ${JSON.stringify(limitText)}`,
          );
          return;
        }
        const limit = Math.min(
          MAX_SERIES_POINTS,
          Math.max(1, limitText === null ? DEFAULT_SERIES_POINTS : Number(limitText)),
        );
        // One more than the limit tells whether older points were left out.
        const series = await options.store.series({ host, sinceMs, limit: limit + 1 });
        const truncated = series.length > limit;
        send(res, 200, { series: truncated ? series.slice(1) : series, limit, truncated });
      } else if (path === "/" || path === "/dashboard") {
        send(res, 200, dashboardHtml(), {
          "content-security-policy":
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        });
      } else if (path === "/favicon.ico") {
        res.writeHead(204, { "cache-control": "max-age=86400" }).end();
      } else {
        send(res, 404, {
          error: `no such path ${path}: POST /report, GET /api/groups, GET /api/series, GET /`,
        });
      }
    } catch (error) {
      options.onError?.(error);
      send(res, 503, { error: "the store could not be read; retry later" });
    }
  };
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? 30_000, headersTimeout);
  const server = createServer(
    {
      requestTimeout,
      headersTimeout,
      // How often Node checks those timeouts (its default, 30 s, would let a slow client stay that long).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      handle(req, res).catch((error) => {
        options.onError?.(error);
        if (!res.headersSent) send(res, 503, { error: "the collector could not answer; retry later" });
        else res.destroy();
      });
    },
  );
  // An idle kept-alive connection is closed after 5 s. One that never sends a request is closed by Node's own
  // headersTimeout (it counts from the connection's start; limits.test.ts holds it). There used to be a
  // socket timer of our own as well, re-armed on every request, and it cut connections whose answer was
  // waiting for the journal's sync.
  server.keepAliveTimeout = 5_000;

  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });
  return server;
}

/** Starts a collector on host:port (port 0 picks a free one) and resolves with its ingest URL. */
export async function startCollector(
  options: CollectorOptions & {
    host?: string;
    port?: number;
    /** Deletes groups not seen for this many days, at start and every hour. */
    retainDays?: number | undefined;
  },
): Promise<Collector> {
  const server = createCollectorServer(options);
  let retention: NodeJS.Timeout | undefined;
  if (options.retainDays !== undefined) {
    const days = options.retainDays;
    const prune = (): Promise<unknown> =>
      options.store
        .prune((options.now ?? Date.now)() - days * 86_400_000)
        .catch((error) => options.onError?.(error));
    await prune();
    retention = setInterval(prune, 3_600_000);
    retention.unref();
  }
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shown}:${address.port}/report`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(retention);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
