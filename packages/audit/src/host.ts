import { isIP } from "node:net";
import { domainToASCII } from "node:url";

/**
 * A host as the audit names it: lower case, and an IPv6 address without brackets in its canonical text (so
 * "[::1]", "0:0::1" and "::1" are one host, whether they come from a CONNECT line, an SNI name, --hosts,
 * --expect-pinned or --name-constraints). An IPv4 address in a short or numeric form that URLs read as one
 * ("1.2.3" is 1.2.0.3, "0x7f.1" is 127.0.0.1, as Node's URL parser, curl and inet_aton say) is that address in
 * dotted-quad form, so it is one host with its canonical text. Never throws, whatever a peer sent: Node's `isIP`
 * accepts an IPv6 zone ("fe80::1%eth0"), which URLs and certificates have no form for, so such a text is kept as
 * it is, and so is a name ending in a number that is no IPv4 address ("a.123"): {@link isHostName} refuses both.
 * One trailing dot (the DNS root: "api.example.com.") is dropped, as Node's TLS host check and @keypin/core's
 * normalizeHost drop it: a client that asks for "api.example.com." reaches api.example.com, so it is one host
 * for the forged leaf (whose SAN never carries the dot: a client enforcing the audit CA's name constraints
 * refuses a SAN ending in one, as "permitted subtree violation"), the verdicts, --hosts, --name-constraints and
 * the expectation. A second dot ("a..") is kept, and isHostName refuses it. A name with non-ASCII letters is its
 * ASCII (punycode) form, as Node's URL parser gives it and @keypin/core's normalizeHost does ("bücher.example" is
 * "xn--bcher-kva.example", the name a client sends in CONNECT and SNI): `--expect-pinned bücher.example` judges
 * the tunnels to xn--bcher-kva.example. Text with no ASCII form (domainToASCII gives "") is kept as it is.
 *
 * @example
 * canonicalHost("[0:0::1]"); // "::1"
 * canonicalHost("1.2.3"); // "1.2.0.3"
 * canonicalHost("API.Example.com."); // "api.example.com"
 * canonicalHost("Bücher.example"); // "xn--bcher-kva.example"
 */
export function canonicalHost(host: string): string {
  const text = host.trim();
  // domainToASCII (UTS #46: it maps case itself) never throws: text that is no name (a space, a bracket, a
  // bidirectional control, a label over 63) gives "".
  const ascii = /[^\x00-\x7f]/.test(text) ? domainToASCII(text) : "";
  const trimmed = ascii !== "" ? ascii : text.toLowerCase();
  const lower = trimmed.endsWith(".") ? trimmed.slice(0, -1) : trimmed;
  const bare = lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
  const family = isIP(bare);
  if (family === 6) {
    const url = `http://[${bare}]/`;
    return URL.canParse(url) ? new URL(url).hostname.slice(1, -1) : bare;
  }
  if (family === 0 && endsInNumber(bare)) {
    // The URL parser's IPv4 rules (WHATWG "ends in a number"): only on text of host-name characters, so nothing
    // a peer sends can make the parser read a path, a port or userinfo out of it.
    const url = `http://${bare}/`;
    if (/^[a-z0-9._-]+$/.test(bare) && URL.canParse(url)) {
      const hostname = new URL(url).hostname;
      if (isIP(hostname) === 4) return hostname;
    }
  }
  return bare;
}

/** WHATWG URL: the last label (a trailing dot ignored) is decimal digits or 0x hex, so the name is IPv4 or nothing. */
function endsInNumber(host: string): boolean {
  const labels = host.split(".");
  if (labels.at(-1) === "" && labels.length > 1) labels.pop();
  const last = labels.at(-1) ?? "";
  return /^\d+$/.test(last) || /^0x[0-9a-f]*$/.test(last);
}

/**
 * Whether `host` (as {@link canonicalHost} gives it) names one host the audit can judge: a DNS name of letters,
 * digits, `-` and `_` (labels of 1 to 63, 253 in all, no trailing dot: canonicalHost dropped one) whose last
 * label is no number, an IPv4 address in dotted-quad form, or an IPv6 address without a zone. An SNI name that is
 * not one (control characters, spaces, commas, "1.2.3.4.5", "a..") is never taken as a tunnel's host.
 *
 * @example
 * isHostName("api.example.com"); // true
 * isHostName("x\n api.bank.test pinned"); // false
 */
export function isHostName(host: string): boolean {
  const family = isIP(host);
  if (family === 4) return true;
  if (family === 6) return !host.includes("%");
  return (
    host.length <= 253 &&
    !endsInNumber(host) &&
    /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(host)
  );
}

/**
 * Text a peer chose (an SNI name, a request line, a host), safe to print on a terminal or in a report: every
 * control character (C0, DEL, C1), and the Unicode line and paragraph separators and bidirectional controls
 * that can reorder or split what a terminal or an editor shows, as a visible escape (`\x1b`, `\u202e`).
 * Printable text, non-ASCII letters included, stays as it is, and escaping twice changes nothing.
 *
 * @example
 * printable("a\x1b[2Kb\n"); // "a\\x1b[2Kb\\x0a"
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * {@link printable} of `text`, at most `max` characters once escaped (an escape is never split), and whether
 * anything was cut. Escapes only what it keeps: a peer's 64 KiB of control bytes is not made 256 KiB first. The
 * text returned is a copy: a part of a peer's request head kept as a slice would keep the whole head alive.
 *
 * @example
 * clipPrintable("ab\x01cd", 5); // { text: "ab", cut: true }
 */
export function clipPrintable(text: string, max: number): { text: string; cut: boolean } {
  const head = text.length > max ? text.slice(0, max) : text;
  const escaped = printable(head);
  if (escaped.length <= max) return { text: copyOf(escaped), cut: head.length < text.length };
  let out = "";
  for (const ch of head) {
    const e = printable(ch);
    if (out.length + e.length > max) break;
    out += e;
  }
  return { text: copyOf(out), cut: true };
}

/** A flat copy of `text`, sharing no memory with the string it may be a slice of. */
function copyOf(text: string): string {
  if (text.length < 16) return text;
  return /[^\x00-\xff]/.test(text)
    ? Buffer.from(text, "utf16le").toString("utf16le")
    : Buffer.from(text, "latin1").toString("latin1");
}
