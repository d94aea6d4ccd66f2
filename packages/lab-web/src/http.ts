// Request and response helpers: the security headers every response carries, JSON bodies with a size limit,
// the Host check against DNS rebinding, and errors turned into JSON without a stack trace.
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";

/**
 * Headers on every response: the page may load only its own files (no inline script or style, no other
 * origin, no framing), the browser must not guess content types, and nothing is cached or sent as referrer.
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-store",
};

/** Writes the status line and headers (the security headers first), unless they have been sent already. */
export function writeHead(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...securityHeaders, ...headers });
}

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  writeHead(res, status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Sends an HttpError as `{ error: { code, message } }`; anything else as a 500 whose details stay here. */
export function sendError(res: ServerResponse, error: unknown, log: (error: unknown) => void): void {
  const http =
    error instanceof HttpError
      ? error
      : new HttpError("ERR_LAB_WEB_INTERNAL", "The lab server failed on this request; its log says why.");
  if (!(error instanceof HttpError)) log(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(http.headers)) res.setHeader(name, value);
  // A request refused before its body was read: close the connection rather than read the rest.
  if (http.status === 413 || http.status === 415) res.setHeader("connection", "close");
  sendJson(res, http.status, { error: { code: http.code, message: http.message } });
}

/**
 * Whether a Host header names this server as the page's own origin: `127.0.0.1:<port>` or `localhost:<port>`
 * (`[::1]:<port>` when listening on ::1). Any other name is a page that rebound its DNS name to 127.0.0.1 (or a
 * proxy), and is refused: its scripts must not read the run.
 *
 * @example
 * isAllowedHost("127.0.0.1:8080", 8080); // true
 * isAllowedHost("evil.example:8080", 8080); // false
 */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const value = host.toLowerCase();
  return ["127.0.0.1", "localhost", "[::1]"].some((name) => value === `${name}:${port}`);
}

/** The request's media type without parameters, lowercased (`application/json`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Reads a JSON request body of at most `limit` bytes. Refuses, before reading, a content-type other than
 * application/json (415: an HTML form of another origin can only send form types or text/plain, and
 * application/json needs a CORS preflight this server never grants), a declared length over the limit (413);
 * while reading, a body that grows over it (413); then JSON that does not parse (400).
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (mediaType(req) !== "application/json") {
    throw new HttpError(
      "ERR_LAB_WEB_CONTENT_TYPE",
      `Expected content-type application/json but got ${JSON.stringify(req.headers["content-type"] ?? "none")}. Send the body as JSON.`,
    );
  }
  const tooLarge = (size: string) =>
    new HttpError(
      "ERR_LAB_WEB_BODY_TOO_LARGE",
      `Expected a body of at most ${limit} bytes but got ${size}. A run request is a few hundred bytes.`,
    );
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > limit) throw tooLarge(`${declared}`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge(`more than that`);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // The client went away (or broke the framing) mid-body: a bad request, not a fault of the server.
    throw new HttpError(
      "ERR_LAB_WEB_REQUEST",
      "The request body ended before its declared end. Send it whole.",
    );
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      "ERR_LAB_WEB_JSON",
      `Expected a JSON body but it does not parse (${(error as Error).message}). Send e.g. {"scenarios":[3]}.`,
    );
  }
}

/**
 * Fetch Metadata's resource isolation: whether a browser says another site's page made this request. Allowed:
 * no `Sec-Fetch-Site` (curl, an old browser: the Host check and content types still hold), `same-origin`, `none`
 * (typed in the address bar, a bookmark), and, when `page` (the request is for the page itself), a link from
 * elsewhere to it (a top-level GET navigation): a permalink opens the page, never a file or the API behind it.
 *
 * @example
 * isCrossSiteRequest({ method: "GET", headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" } }, false); // true
 */
export function isCrossSiteRequest(req: Pick<IncomingMessage, "method" | "headers">, page: boolean): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site === undefined || site === "same-origin" || site === "none") return false;
  const navigation =
    page &&
    req.headers["sec-fetch-mode"] === "navigate" &&
    (req.method === "GET" || req.method === "HEAD") &&
    (req.headers["sec-fetch-dest"] ?? "document") === "document";
  return !navigation;
}
