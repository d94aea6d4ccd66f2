// The HTTP API's errors: a stable `code` per failure, the status it is sent with, a message that says what was
// expected and what to do. Sent as `{ "error": { "code", "message" } }`; never a stack trace.

/**
 * The codes of the lab server's JSON errors (`{ error: { code, message } }`), with the HTTP status of each.
 *
 * @example
 * if (body.error.code === "ERR_LAB_WEB_BUSY") setTimeout(retry, 1000);
 */
export const labWebErrorStatus = {
  /** The Host header is not `127.0.0.1:<port>` or `localhost:<port>` (a DNS rebinding page, a proxy). */
  ERR_LAB_WEB_HOST: 403,
  /**
   * A request another site's page made (Fetch Metadata `Sec-Fetch-Site: cross-site` or `same-site`), other than
   * following a link to the page: its scripts, images and event streams are refused.
   */
  ERR_LAB_WEB_CROSS_SITE: 403,
  /** A POST whose content-type is not application/json (a form another origin could submit). */
  ERR_LAB_WEB_CONTENT_TYPE: 415,
  /** A request body over the limit. */
  ERR_LAB_WEB_BODY_TOO_LARGE: 413,
  /** A body that is not JSON. */
  ERR_LAB_WEB_JSON: 400,
  /** JSON that is not a run request (`{ "scenarios": [3] }` or `{ "whatIf": {…} }`), or a bad query. */
  ERR_LAB_WEB_REQUEST: 400,
  /** No such route, run, file or asset. */
  ERR_LAB_WEB_NOT_FOUND: 404,
  /** A method the route does not take. */
  ERR_LAB_WEB_METHOD: 405,
  /** A run is already going: one at a time. */
  ERR_LAB_WEB_BUSY: 409,
  /** The server is closing. */
  ERR_LAB_WEB_CLOSING: 503,
  /** A fault in the server (its details stay on the server). */
  ERR_LAB_WEB_INTERNAL: 500,
} as const;

/**
 * A code of {@link labWebErrorStatus}.
 *
 * @example
 * const code: LabWebErrorCode = "ERR_LAB_WEB_HOST";
 */
export type LabWebErrorCode = keyof typeof labWebErrorStatus;

/** A failure the server answers with its status and JSON error body. */
export class HttpError extends Error {
  readonly code: LabWebErrorCode;
  readonly status: number;
  /** Extra response headers (`Allow` for a 405). */
  readonly headers: Record<string, string>;

  constructor(code: LabWebErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.status = labWebErrorStatus[code];
    this.headers = headers;
  }
}
