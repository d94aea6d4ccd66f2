import { formatIpv6, parseIpv4Strict, parseIpv6 } from "./ip.js";
import { hostToAscii } from "./punycode.js";
import type { DomainPolicy, Policy } from "./types.js";

/**
 * The canonical spelling of a host, the way DNS compares names: ASCII lowercase, no trailing dots,
 * internationalized names in their xn-- form,
 * IPv6 without brackets in RFC 5952 form, IPv4 in dotted decimal (also from the short, octal and hex
 * spellings URL parsers accept). Never throws: text that is no valid host is only lowercased.
 *
 * @example
 * ```ts
 * normalizeHost("API.MyApp.com.");       // "api.myapp.com"
 * normalizeHost("[2001:DB8:0:0::1]");     // "2001:db8::1"
 * normalizeHost("0x7f.1");               // "127.0.0.1"
 * ```
 */
export function normalizeHost(host: string): string {
  let h = host.trim();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.includes(":")) {
    const bytes = parseIpv6(h);
    return bytes ? formatIpv6(bytes) : lowerAscii(h);
  }
  h = /[^\u0000-\u007f]/.test(h) ? hostToAscii(h) : lowerAscii(h);
  // Every trailing dot: Node's hostname check drops two ("a.test.." passes for a certificate of a.test), so a
  // spelling that validation accepts must find the same policy.
  h = h.replace(/\.+$/, "") || h;
  const v4 = parseIpv4Loose(h);
  return v4 ?? h;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The WHATWG URL IPv4 parser: `127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433` are all 127.0.0.1.
 * Returns dotted decimal, or undefined when the text is not an IPv4 address.
 */
function parseIpv4Loose(host: string): string | undefined {
  const parts = host.split(".");
  const last = parts[parts.length - 1]!;
  if (!/^(?:0x[0-9a-f]*|\d+)$/.test(last)) return undefined;
  if (parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/.test(p)) n = p.length === 2 ? 0 : Number.parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = Number.parseInt(p.slice(1), 8);
    else if (/^(?:0|[1-9]\d*)$/.test(p)) n = Number(p);
    else return undefined;
    if (!Number.isSafeInteger(n)) return undefined;
    numbers.push(n);
  }
  const lastN = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return undefined;
  if (lastN >= 256 ** (4 - numbers.length)) return undefined;
  let value = lastN;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/**
 * True when a canonical host (as `normalizeHost` gives it, and as a normalized policy stores domains) is an
 * IPv4 or IPv6 address rather than a DNS name. Platforms treat those apart: TrustKit refuses them, iOS ATS
 * pins names only, and in keypin they never match a parent entry.
 *
 * @example
 * ```ts
 * isIpAddress(normalizeHost("[::1]")); // true
 * isIpAddress("api.myapp.com"); // false
 * ```
 */
export function isIpAddress(canonical: string): boolean {
  return canonical.includes(":") || parseIpv4Strict(canonical) !== undefined;
}

interface DomainIndex {
  entries: readonly DomainPolicy[];
  names: readonly string[];
  byDomain: Map<string, DomainPolicy>;
}

// The canonical-name index of a policy, built once per policy instead of on every lookup (a pinning
// client looks up on every handshake). It is reused only while the policy still holds the same entry
// objects with the same domain names, so a policy changed in place is indexed again.
const domainIndexes = new WeakMap<Policy, DomainIndex>();

function domainIndexOf(policy: Policy): Map<string, DomainPolicy> {
  const cached = domainIndexes.get(policy);
  if (cached && isSameDomainList(cached, policy.domains)) return cached.byDomain;
  const byDomain = new Map<string, DomainPolicy>();
  for (const d of policy.domains) {
    const key = normalizeHost(d.domain);
    if (!byDomain.has(key)) byDomain.set(key, d);
  }
  domainIndexes.set(policy, {
    entries: [...policy.domains],
    names: policy.domains.map((d) => d.domain),
    byDomain,
  });
  return byDomain;
}

function isSameDomainList(index: DomainIndex, domains: readonly DomainPolicy[]): boolean {
  if (index.entries.length !== domains.length) return false;
  for (let i = 0; i < domains.length; i++) {
    if (index.entries[i] !== domains[i] || index.names[i] !== domains[i]!.domain) return false;
  }
  return true;
}

/**
 * The domain entry that applies to `host`: the exact entry, else the nearest parent entry with
 * `includeSubdomains`, at any depth. That entry's own settings decide (expired, report-only): there is
 * no fall-back to an entry further up. IP addresses match only exactly.
 *
 * @example
 * ```ts
 * const entry = findDomainPolicy(policy, "v2.api.myapp.com"); // the "api.myapp.com" entry if it includes subdomains
 * ```
 */
export function findDomainPolicy(policy: Policy, host: string): DomainPolicy | undefined {
  const canonical = normalizeHost(host);
  const byDomain = domainIndexOf(policy);
  const exact = byDomain.get(canonical);
  if (exact) return exact;
  // Only DNS names have parents: not IP addresses, nor names whose last label is numeric.
  if (canonical === "" || isIpAddress(canonical) || /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/.test(canonical))
    return undefined;
  let rest = canonical;
  for (let dot = rest.indexOf("."); dot >= 0; dot = rest.indexOf(".")) {
    rest = rest.slice(dot + 1);
    const parent = byDomain.get(rest);
    if (parent?.includeSubdomains) return parent;
  }
  return undefined;
}
