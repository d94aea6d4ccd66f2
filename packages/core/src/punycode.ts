// Internationalized host names to their ASCII (xn--) form: RFC 3492 Punycode, with the IDNA basics
// (NFKC, lowercase, the ideographic full stops as dots). Not a full UTS #46 mapping table.

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

/** RFC 3492 encoding of one label (without the xn-- prefix). */
export function encodePunycode(label: string): string {
  const input = Array.from(label, (c) => c.codePointAt(0)!);
  let output = input
    .filter((c) => c < 0x80)
    .map((c) => String.fromCharCode(c))
    .join("");
  const basic = output.length;
  let handled = basic;
  if (basic > 0) output += "-";
  let n = 0x80;
  let delta = 0;
  let bias = 72;
  while (handled < input.length) {
    let m = Number.MAX_SAFE_INTEGER;
    for (const c of input) if (c >= n && c < m) m = c;
    delta += (m - n) * (handled + 1);
    n = m;
    for (const c of input) {
      if (c < n) delta++;
      if (c !== n) continue;
      let q = delta;
      for (let k = BASE; ; k += BASE) {
        const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
        if (q < t) break;
        output += digit(t + ((q - t) % (BASE - t)));
        q = Math.floor((q - t) / (BASE - t));
      }
      output += digit(q);
      bias = adapt(delta, handled + 1, handled === basic);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return output;
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
 * Code points UTS #46 maps to nothing (soft hyphen, zero-width space, word joiner, variation selectors, BOM…):
 * URL parsers and Node's domainToASCII drop them, and Node's wildcard hostname check accepts a label holding them,
 * so they must not make a name look like another host.
 */
function isIgnored(codePoint: number): boolean {
  return (
    codePoint === 0xad ||
    codePoint === 0x34f ||
    (codePoint >= 0x180b && codePoint <= 0x180d) ||
    codePoint === 0x180f ||
    codePoint === 0x200b ||
    codePoint === 0x2060 ||
    codePoint === 0x2064 ||
    (codePoint >= 0xfe00 && codePoint <= 0xfe0f) ||
    codePoint === 0xfeff ||
    (codePoint >= 0x1bca0 && codePoint <= 0x1bca3) ||
    (codePoint >= 0xe0100 && codePoint <= 0xe01ef)
  );
}

/** The ASCII form of a host name that may contain non-ASCII labels. */
export function hostToAscii(host: string): string {
  const mapped = Array.from(host)
    .filter((c) => !isIgnored(c.codePointAt(0)!))
    .join("")
    .replace(/\u1e9e/g, "ss") // capital sharp s: UTS #46 maps it to "ss" (the small ß stays)
    .normalize("NFKC")
    .replace(/[\u3002\uff0e\uff61]/g, ".")
    .toLowerCase();
  return mapped
    .split(".")
    .map((label) => (/^[\u0000-\u007f]*$/.test(label) ? label : `xn--${encodePunycode(label)}`))
    .join(".");
}
