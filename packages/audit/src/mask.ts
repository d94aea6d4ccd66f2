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
 * The request target without its query string's values (tokens often ride there): `?a=<masked>&b=<masked>`.
 *
 * @example
 * maskTarget("/login?token=abc"); // "/login?token=<masked>"
 */
export function maskTarget(target: string): string {
  const q = target.indexOf("?");
  if (q < 0) return target;
  const query = target
    .slice(q + 1)
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq < 0 ? pair : `${pair.slice(0, eq)}=<masked>`;
    })
    .join("&");
  return `${target.slice(0, q)}?${query}`;
}
