// Header values that carry secrets are masked in every verdict, table and report unless --show-secrets.

/** Header names (lower case) whose values are secrets: credentials, session cookies, API keys. */
const SECRET =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-csrf-token|x-xsrf-token)$|token|secret|session|password|apikey/;

/**
 * Whether the value of header `name` is masked by default.
 *
 * @example
 * isSecretHeader("Authorization"); // true
 */
export function isSecretHeader(name: string): boolean {
  return SECRET.test(name.toLowerCase());
}

/**
 * The masked form of a secret value: its length only, never a prefix.
 *
 * @example
 * maskValue("Bearer abc"); // "<masked, 10 chars>"
 */
export function maskValue(value: string): string {
  return `<masked, ${value.length} chars>`;
}

/**
 * Whether a path segment (or a bare query item) looks like a credential rather than a route: the rule is at
 * least 16 characters that are not lower-case word text (any characters count: a token may be percent-encoded
 * or hold `:`, `@`, `!`). Kept: lower-case words joined by `-`, `_` or `.` ("openid-configuration", "change_password.html"), which
 * is what long route segments are. Masked: anything mixing cases or digits in, or 48 characters and more of any
 * kind ("SECRET-pathtoken-aaaa", a JWT, a UUID, a base64url or hex token, a long numeric id). Shorter tokens (an
 * 8-digit one-time code in a path) are not told from route segments ("v1", "2024"): --hosts and one app per
 * session limit who sends them, and the masked form keeps the length.
 */
function looksLikeToken(segment: string): boolean {
  if (segment.length < 16) return false;
  if (segment.length >= 48) return true;
  return !/^[a-z]+(?:[-_.][a-z]+)*$/.test(segment);
}

const MASK = "<masked>";

/** A path's segments with `;name=value` parameters' values masked and token-like segments masked whole. */
function maskPath(path: string): string {
  return path
    .split("/")
    .map((segment) => {
      const [head = "", ...params] = segment.split(";");
      const masked = params.map((param) => {
        const eq = param.indexOf("=");
        return eq < 0 ? (param === "" ? "" : MASK) : `${param.slice(0, eq)}=${MASK}`;
      });
      return [looksLikeToken(head) ? MASK : head, ...masked].join(";");
    })
    .join("/");
}

/**
 * The request target without the credentials it can carry: userinfo (`https://user:pass@host/` is
 * `https://<masked>@host/`), the values of path parameters (`;jsessionid=<masked>`), path segments that look
 * like tokens (see looksLikeToken), and every query value (`?a=<masked>&b=<masked>`; a bare item is masked when
 * it looks like a token). The fragment, never sent by clients, is masked whole if present.
 *
 * @example
 * maskTarget("/login?token=abc"); // "/login?token=<masked>"
 * maskTarget("/v1/me;jsessionid=abc"); // "/v1/me;jsessionid=<masked>"
 */
export function maskTarget(target: string): string {
  let rest = target;
  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    fragment = `#${MASK}`;
    rest = rest.slice(0, hash);
  }
  let query: string | undefined;
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  // Absolute form (a request to a proxy, or a client that sends it anyway): scheme://[userinfo@]authority/path.
  let prefix = "";
  const absolute = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/]*)/.exec(rest);
  if (absolute) {
    const authority = absolute[2]!;
    const at = authority.lastIndexOf("@");
    prefix = absolute[1]! + (at >= 0 ? `${MASK}@${authority.slice(at + 1)}` : authority);
    rest = rest.slice(absolute[0].length);
  }
  const maskedQuery =
    query === undefined
      ? ""
      : `?${query
          .split("&")
          .map((pair) => {
            const eq = pair.indexOf("=");
            if (eq >= 0) return `${pair.slice(0, eq)}=${MASK}`;
            return looksLikeToken(pair) ? MASK : pair;
          })
          .join("&")}`;
  return `${prefix}${maskPath(rest)}${maskedQuery}${fragment}`;
}

/** An HTTP version as a request line ends with it: "HTTP/1.1", "HTTP/2". */
const VERSION = /^HTTP\/\d+(?:\.\d+)?$/i;
/** A method as RFC 9110 writes it (a token: no "/", "?", "=", ":"), of a length methods have. */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}$/;

/**
 * A request line without the credentials its target can carry. The parts are split on runs of whitespace (a peer
 * may send "GET  /login?token=X" or a tab, and a server may read it); the usual three parts (method, target,
 * version) are kept with the target masked by {@link maskTarget}; any other shape (two parts, four, a third that is
 * no HTTP version) keeps the method only, the rest masked whole with its length: nothing after the method can be
 * told to be no target. A first part that is no method ("/login?token=X HTTP/1.1") is masked too.
 *
 * @example
 * maskRequestLine("GET\t/login?token=abc HTTP/1.1"); // "GET /login?token=<masked> HTTP/1.1"
 * maskRequestLine("GET /x HTTP/1.1 /login?token=abc"); // "GET <masked, 28 chars>"
 */
export function maskRequestLine(startLine: string): string {
  const line = startLine.trim();
  const parts = line.split(/\s+/);
  const [method = "", target = "", version = ""] = parts;
  if (!METHOD.test(method)) return line === "" ? "" : maskValue(line);
  if (parts.length === 3 && VERSION.test(version)) return `${method} ${maskTarget(target)} ${version}`;
  if (parts.length === 1) return method;
  return `${method} ${maskValue(line.slice(method.length).trim())}`;
}
