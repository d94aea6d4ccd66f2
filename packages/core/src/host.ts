import { BoundedCache } from "./bounded-cache.js";
import { formatIpv6, parseIpv4Strict, parseIpv6 } from "./ip.js";
import { hostToAscii } from "./punycode.js";
import type { DomainPolicy, Policy } from "./types.js";

/**
 * The canonical spelling of a host: what policy keys and connection hosts are both reduced to before they are
 * compared, so that every spelling of a host that a client can connect to finds the same entry. Never throws.
 *
 * **IP addresses** have one canonical form each:
 * - IPv4: dotted decimal without leading zeros, `127.0.0.1`, also from the short, octal and hex spellings
 *   that URL parsers and `net.connect` (`inet_aton`) accept (`127.1`, `0x7f.1`, `0177.0.0.1`, `2130706433`).
 * - An IPv4-mapped IPv6 address (`::ffff:0:0/96`: `::ffff:127.0.0.1`, `[::ffff:7f00:1]`) is that IPv4
 *   address, `127.0.0.1`: a connection to it reaches the IPv4 host, and Node's hostname check accepts it for a
 *   certificate that names it. (The URL standard writes it `[::ffff:7f00:1]`.) IPv4-compatible (`::7f00:1`)
 *   and NAT64 (`64:ff9b::…`) addresses are other hosts and stay IPv6.
 * - IPv6: RFC 5952 text (lowercase, zeros compressed), no brackets, no zone ID, no trailing dot.
 * - A zone ID (`fe80::10%eth0`, `::1%lo`, RFC 6874's `%25eth0`) names an interface of this machine, not a
 *   different host: it is dropped, so `fe80::10%eth0` finds the entry for `fe80::10` (the only way an entry for
 *   a link-local address can apply), and `::1%lo` the entry for `::1`. The same link-local address on two
 *   interfaces therefore shares one entry. The policy validator refuses a key written with a zone ID.
 *
 * **Names**: the UTS #46 mapping (Unicode's IDNA mapping table, nontransitional processing, as the WHATWG URL
 * standard uses it: `Σ` is `σ` wherever it stands, `ß` and `ς` are kept), NFC, each non-ASCII label in its
 * xn-- form, then every trailing dot removed (Node's hostname check drops trailing dots, so `a.test..` passes
 * for a certificate of `a.test`). For every name the URL standard accepts this gives the URL standard's
 * host, except for the differences kept on purpose:
 * 1. Every trailing dot is removed (the URL standard keeps them).
 * 2. Leading and trailing white space is trimmed.
 * 3. Where UTS #46 or the URL standard reports an error (a disallowed code point, an xn-- label that is not
 *    valid Punycode, the bidi and joiner rules, a label starting with a combining mark, a forbidden host code
 *    point, an IPv4-looking name that is no IPv4 address) this still returns the mapped text, with non-ASCII
 *    labels encoded, rather than failing: the URL parser refuses those hosts, and the policy validator refuses
 *    such keys.
 * 4. xn-- labels are lowercased, not decoded and encoded again.
 * 5. IP addresses as above: IPv4-mapped IPv6 as IPv4, zone IDs dropped, IPv6 without brackets.
 * 6. The host is not percent-decoded (it is a host name, not URL text).
 * 7. NFC comes from the JavaScript engine (`String.prototype.normalize`); the mapping table is Unicode 16's
 *    (from tr46 6.0.0): code points assigned later are kept as they are.
 *
 * Linear in the length of the input (O(n log n) for one long non-ASCII label, in Punycode's encoder).
 *
 * @example
 * ```ts
 * normalizeHost("API.MyApp.com.");       // "api.myapp.com"
 * normalizeHost("[2001:DB8:0:0::1]");     // "2001:db8::1"
 * normalizeHost("0x7f.1");               // "127.0.0.1"
 * normalizeHost("::ffff:7f00:1");        // "127.0.0.1"
 * normalizeHost("fe80::10%eth0");        // "fe80::10"
 * normalizeHost("ΒΌΛΟΣ.gr");             // "xn--nxasmq6b.gr"
 * ```
 */
export function normalizeHost(host: string): string {
  if (host.length > MAX_REMEMBERED_HOST) return canonicalHostOf(host);
  const known = canonicalHosts.get(host);
  if (known !== undefined) return known;
  const canonical = canonicalHostOf(host);
  canonicalHosts.set(host, canonical);
  return canonical;
}

/**
 * Spellings already reduced, by their exact text: a pinning client reduces the same few hosts on every handshake
 * (the policy lookup and the verdict each reduce it again): remembering them took an evaluateChain right after a
 * connection from 26-34 µs to 21-28 µs. The answer depends on the text alone.
 */
const canonicalHosts = new BoundedCache<string>(512);
const MAX_REMEMBERED_HOST = 256;

function canonicalHostOf(host: string): string {
  const h = host.trim();
  if (h.includes(":")) return normalizeIpv6Host(h) ?? lowerAscii(h);
  const ascii = /[^\u0000-\u007f]/.test(h) ? hostToAscii(h) : lowerAscii(h);
  const name = withoutTrailingDots(ascii);
  return parseIpv4Loose(name) ?? name;
}

/**
 * The canonical form of an IPv6 host (brackets, zone ID and trailing dots allowed around it), or undefined
 * when the text is no IPv6 address.
 */
function normalizeIpv6Host(text: string): string | undefined {
  let h = withoutTrailingDots(text);
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  const zone = h.indexOf("%");
  if (zone >= 0) h = h.slice(0, zone);
  const bytes = parseIpv6(h);
  if (!bytes) return undefined;
  if (isIpv4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  return formatIpv6(bytes);
}

/** `::ffff:0:0/96`, the IPv6 addresses that stand for an IPv4 address on a dual-stack socket. */
function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The text without its trailing dots, unless it is nothing but dots. A scan from the end: linear. */
function withoutTrailingDots(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2e) end--;
  return end === 0 || end === text.length ? text : text.slice(0, end);
}

function lowerAscii(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/**
 * The WHATWG URL IPv4 parser: `127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433` are all 127.0.0.1.
 * Returns dotted decimal, or undefined when the text is not an IPv4 address.
 */
function parseIpv4Loose(host: string): string | undefined {
  // Only digits, hex digits, x and dots can spell an address: refuse other text before splitting it.
  if (!/^[0-9a-fx.]+$/.test(host)) return undefined;
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
  /** The length of the longest canonical key: no longer suffix of a host can be a key. */
  longestKey: number;
}

// The canonical-name index of a policy, built once per policy instead of on every lookup (a pinning
// client looks up on every handshake). It is reused only while the policy still holds the same entry
// objects with the same domain names, so a policy changed in place is indexed again.
const domainIndexes = new WeakMap<Policy, DomainIndex>();

function domainIndexOf(policy: Policy): DomainIndex {
  const cached = domainIndexes.get(policy);
  if (cached && isSameDomainList(cached, policy.domains)) return cached;
  const byDomain = new Map<string, DomainPolicy>();
  let longestKey = 0;
  for (const d of policy.domains) {
    const key = normalizeHost(d.domain);
    if (!byDomain.has(key)) byDomain.set(key, d);
    longestKey = Math.max(longestKey, key.length);
  }
  const index: DomainIndex = {
    entries: [...policy.domains],
    names: policy.domains.map((d) => d.domain),
    byDomain,
    longestKey,
  };
  domainIndexes.set(policy, index);
  return index;
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
 * no fall-back to an entry further up. IP addresses match only exactly, in their canonical form (see
 * {@link normalizeHost}: `::ffff:127.0.0.1` and `127.1` find the entry for `127.0.0.1`, `::1%lo` the one
 * for `::1`). Linear in the host's length: only suffixes no longer than the policy's longest key are
 * looked up.
 *
 * @example
 * ```ts
 * const entry = findDomainPolicy(policy, "v2.api.myapp.com"); // the "api.myapp.com" entry if it includes subdomains
 * ```
 */
export function findDomainPolicy(policy: Policy, host: string): DomainPolicy | undefined {
  const canonical = normalizeHost(host);
  const { byDomain, longestKey } = domainIndexOf(policy);
  const exact = byDomain.get(canonical);
  if (exact) return exact;
  // Only DNS names have parents: not IP addresses, nor names whose last label is numeric.
  const lastLabel = canonical.slice(canonical.lastIndexOf(".") + 1);
  if (canonical === "" || isIpAddress(canonical) || /^(?:\d+|0x[0-9a-f]*)$/.test(lastLabel)) return undefined;
  // The suffix after a dot at index d is canonical.length - d - 1 long; start at the first dot whose suffix
  // can be as short as a key, so that a host of a million labels costs one scan, not a million hashes.
  const from = Math.max(0, canonical.length - longestKey - 1);
  for (let dot = canonical.indexOf(".", from); dot >= 0; dot = canonical.indexOf(".", dot + 1)) {
    const parent = byDomain.get(canonical.slice(dot + 1));
    if (parent?.includeSubdomains) return parent;
  }
  return undefined;
}
