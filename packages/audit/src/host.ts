import { isIP } from "node:net";

/**
 * A host as the audit names it: lower case, and an IPv6 address without brackets in its canonical text (so
 * "[::1]", "0:0::1" and "::1" are one host, whether they come from a CONNECT line, an SNI name, --hosts,
 * --expect-pinned or --name-constraints). Never throws, whatever a peer sent: Node's `isIP` accepts an IPv6 zone
 * ("fe80::1%eth0"), which URLs and certificates have no form for, so such a text is kept as it is.
 *
 * @example
 * canonicalHost("[0:0::1]"); // "::1"
 */
export function canonicalHost(host: string): string {
  const lower = host.trim().toLowerCase();
  const bare = lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
  if (isIP(bare) !== 6) return bare;
  const url = `http://[${bare}]/`;
  return URL.canParse(url) ? new URL(url).hostname.slice(1, -1) : bare;
}
