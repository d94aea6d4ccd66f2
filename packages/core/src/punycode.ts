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
