// Internationalized host names to their ASCII (xn--) form: the UTS #46 mapping (idna/map.ts), then RFC 3492
// Punycode.
import { mapHost } from "./idna/map.js";

const BASE = 36;
const T_MIN = 1;
const T_MAX = 26;
const SKEW = 38;
const DAMP = 700;

function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : delta >> 1;
  d += Math.floor(d / points);
  let k = 0;
  while (d > ((BASE - T_MIN) * T_MAX) >> 1) {
    d = Math.floor(d / (BASE - T_MIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - T_MIN + 1) * d) / (d + SKEW));
}

function digit(d: number): string {
  return String.fromCharCode(d < 26 ? 97 + d : 22 + d);
}

/**
 * RFC 3492 encoding of one label (without the xn-- prefix). O(n log n) in the label's length: the textbook
 * encoder rescans the whole label once per distinct code point (quadratic on a long label of distinct
 * characters); this one visits the code points in (value, position) order and counts the smaller ones before
 * each with a Fenwick tree over positions.
 */
export function encodePunycode(label: string): string {
  const input = Array.from(label, (c) => c.codePointAt(0)!);
  const length = input.length;
  const out: string[] = [];
  // tree[i] (1-based): how many positions in its Fenwick range hold a code point already encoded (< n).
  const tree = new Int32Array(length + 1);
  const mark = (position: number) => {
    for (let i = position + 1; i <= length; i += i & -i) tree[i]!++;
  };
  /** How many positions before `position` hold a code point already encoded. */
  const countBefore = (position: number) => {
    let sum = 0;
    for (let i = position; i > 0; i -= i & -i) sum += tree[i]!;
    return sum;
  };
  const pending: number[] = [];
  for (let i = 0; i < length; i++) {
    if (input[i]! < 0x80) {
      out.push(String.fromCharCode(input[i]!));
      mark(i);
    } else pending.push(i);
  }
  const basic = out.length;
  let handled = basic;
  if (basic > 0) out.push("-");
  pending.sort((a, b) => input[a]! - input[b]! || a - b);
  let n = 0x80;
  let delta = 0;
  let bias = 72;
  for (let k = 0; k < pending.length; ) {
    const m = input[pending[k]!]!;
    delta += (m - n) * (handled + 1);
    n = m;
    const first = k;
    let previous = -1;
    for (; k < pending.length && input[pending[k]!] === m; k++) {
      const position = pending[k]!;
      // The code points below n between the previous occurrence of n and this one.
      delta += countBefore(position) - countBefore(previous + 1);
      let q = delta;
      for (let j = BASE; ; j += BASE) {
        const t = j <= bias ? T_MIN : j >= bias + T_MAX ? T_MAX : j - bias;
        if (q < t) break;
        out.push(digit(t + ((q - t) % (BASE - t))));
        q = Math.floor((q - t) / (BASE - t));
      }
      out.push(digit(q));
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
      previous = position;
    }
    delta += countBefore(length) - countBefore(previous + 1);
    for (let j = first; j < k; j++) mark(pending[j]!);
    delta++;
    n++;
  }
  return out.join("");
}

function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 22; // 0-9 are 26-35
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61;
  return BASE;
}

/**
 * RFC 3492 decoding of one label (without the xn-- prefix), or undefined when it is no valid Punycode:
 * a non-ASCII basic part, a bad digit, an overflow, a code point past U+10FFFF or a surrogate.
 */
export function decodePunycode(encoded: string): string | undefined {
  const end = encoded.lastIndexOf("-");
  const output: number[] = [];
  for (let i = 0; i < Math.max(end, 0); i++) {
    const c = encoded.charCodeAt(i);
    if (c >= 0x80) return undefined;
    output.push(c);
  }
  let n = 0x80;
  let i = 0;
  let bias = 72;
  for (let at = end > 0 ? end + 1 : 0; at < encoded.length; ) {
    const before = i;
    let w = 1;
    for (let k = BASE; ; k += BASE) {
      if (at >= encoded.length) return undefined;
      const d = digitValue(encoded.charCodeAt(at++));
      if (d >= BASE) return undefined;
      i += d * w;
      if (i > 0x10ffff * (output.length + 1)) return undefined;
      const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
      if (d < t) break;
      w *= BASE - t;
    }
    bias = adapt(i - before, output.length + 1, before === 0);
    n += Math.floor(i / (output.length + 1));
    i %= output.length + 1;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return undefined;
    output.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...output);
}

/**
 * Why a label in xn-- form can name no host, or undefined when it may: it must be valid Punycode and decode
 * to a name with some non-ASCII and no control, surrogate, private-use or noncharacter code point. URL parsers
 * refuse such labels (Node: "Invalid URL"; OkHttp throws), so a policy entry holding one would pin nothing.
 * Not a full UTS #46 validity check (joiners, bidi, combining marks are left to the parsers).
 *
 * @example
 * aceLabelProblem("xn--bcher-kva"); // undefined ("bücher")
 * aceLabelProblem("xn--a");         // "decodes to U+0080, a control character"
 */
export function aceLabelProblem(label: string): string | undefined {
  if (!/^xn--/i.test(label)) return undefined;
  const decoded = decodePunycode(label.slice(4));
  if (decoded === undefined) return "is not valid Punycode";
  if (!/[^\u0000-\u007f]/.test(decoded)) return "decodes to plain ASCII, which has no xn-- form";
  const bad = /[\p{Cc}\p{Co}\p{Noncharacter_Code_Point}]/u.exec(decoded)?.[0];
  if (bad !== undefined) {
    const code = `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    const what = /\p{Cc}/u.test(bad)
      ? "a control character"
      : /\p{Co}/u.test(bad)
        ? "a private-use character"
        : "a noncharacter";
    return `decodes to ${code}, ${what}`;
  }
  return undefined;
}

/**
 * The ASCII form of a host name that may contain non-ASCII labels: the UTS #46 mapping step (Unicode's IDNA
 * mapping table, nontransitional, as the URL standard uses it), NFC, then each non-ASCII label in its xn--
 * form. Never fails: `normalizeHost` (host.ts) lists what it does where UTS #46 reports an error.
 *
 * @example
 * hostToAscii("ΒΌΛΟΣ.com"); // "xn--nxasmq6b.com"
 */
export function hostToAscii(host: string): string {
  return mapHost(host)
    .split(".")
    .map((label) => (/^[\u0000-\u007f]*$/.test(label) ? label : `xn--${encodePunycode(label)}`))
    .join(".");
}
