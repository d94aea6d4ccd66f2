import type { DomainPolicy, Policy } from "./types.js";
import { formatIpv6 } from "./x509.js";

/**
 * The canonical spelling of a host, the way DNS compares names: ASCII lowercase, no trailing dot,
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
  h = lowerAscii(h);
  if (h.endsWith(".") && h.length > 1) h = h.slice(0, -1);
  const v4 = parseIpv4Loose(h);
  return v4 ?? h;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Parses IPv6 text (with an optional embedded IPv4 tail) to 16 bytes, or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return undefined;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const lastPart = text.slice(lastColon + 1);
  if (lastPart.includes(".")) {
    const v4 = parseIpv4Strict(lastPart);
    if (!v4) return undefined;
    tail = v4;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    if (left.length !== 8) return undefined;
    groups = left;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** Strict dotted-quad IPv4 (no leading zeros). */
export function parseIpv4Strict(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith("0") ? 256 : Number(p)));
  return parts.every((p) => p <= 255) ? parts : undefined;
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

/** True when the canonical host is an IP address. */
export function isIpAddress(canonical: string): boolean {
  return canonical.includes(":") || parseIpv4Strict(canonical) !== undefined;
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
  const byDomain = new Map<string, DomainPolicy>();
  for (const d of policy.domains) {
    const key = normalizeHost(d.domain);
    if (!byDomain.has(key)) byDomain.set(key, d);
  }
  const exact = byDomain.get(canonical);
  if (exact) return exact;
  if (canonical === "" || isIpAddress(canonical)) return undefined;
  let rest = canonical;
  for (let dot = rest.indexOf("."); dot >= 0; dot = rest.indexOf(".")) {
    rest = rest.slice(dot + 1);
    const parent = byDomain.get(rest);
    if (parent?.includeSubdomains) return parent;
  }
  return undefined;
}
