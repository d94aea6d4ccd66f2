// The regular expressions of the policy syntax, shared by the JSON Schema (policySchema) and the
// validator (validatePolicy) so that both accept exactly the same documents.

const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** A DNS host name (LDH labels of 1–63 characters, optional trailing dot) whose last label is not all digits. */
export const HOSTNAME_PATTERN = `^(?=.{1,253}\\.?$)(?:${label}\\.)*(?![0-9]+\\.?$)${label}\\.?$`;

const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const ipv4 = `${octet}(?:\\.${octet}){3}`;
/** Dotted-quad IPv4 without leading zeros. */
export const IPV4_PATTERN = `^${ipv4}$`;

const h16 = "[0-9A-Fa-f]{1,4}";
const ls32 = `(?:${h16}:${h16}|${ipv4})`;
const rep = (n: number) => (n === 0 ? "" : `(?:${h16}:){${n}}`);
const upTo = (n: number) => (n < 0 ? "" : `(?:(?:${h16}:){0,${n}}${h16})?`);
const ipv6 = [
  `${rep(6)}${ls32}`,
  `::${rep(5)}${ls32}`,
  `${upTo(0)}::${rep(4)}${ls32}`,
  `${upTo(1)}::${rep(3)}${ls32}`,
  `${upTo(2)}::${rep(2)}${ls32}`,
  `${upTo(3)}::${h16}:${ls32}`,
  `${upTo(4)}::${ls32}`,
  `${upTo(5)}::${h16}`,
  `${upTo(6)}::`,
]
  .map((alt) => `(?:${alt})`)
  .join("|");
/** RFC 3986 IPv6address, optionally in brackets. */
export const IPV6_PATTERN = `^(?:${ipv6}|\\[(?:${ipv6})\\])$`;

const b64 = "[A-Za-z0-9+/]{43}=";
/** A 32-byte pin as `sha256/<b64>`, `pin-sha256="<b64>"` or bare base64. */
export const PIN_PATTERN = `^(?:sha256/${b64}|pin-sha256="${b64}"|${b64})$`;

/** yyyy-MM-dd, a real calendar date (leap years included). */
export const DATE_PATTERN =
  "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$";

// RFC 3986 pieces, ASCII only (a report URI is written as a string literal by every exporter).
const unreserved = "A-Za-z0-9\\-._~";
const subDelims = "!$&'()*+,;=";
const pct = "%[0-9A-Fa-f]{2}";
const pchar = `(?:[${unreserved}${subDelims}:@]|${pct})`;
const userinfo = `(?:(?:[${unreserved}${subDelims}:]|${pct})*@)?`;
// The host as URL parsers (WHATWG: Node, browsers) also accept it: LDH labels whose last one does not
// read as a number (123, 0x1f: the parser would then read the host as an IPv4 address and refuse it),
// a dotted-quad IPv4 address, or a bracketed IPv6 address.
// Underscores too (RFC 3986 reg-name and URL parsers allow them): a docker-compose service such as
// keypin_collect is a common report host, and a policy naming one must keep loading (review).
const uriLabel = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const uriHostName = `(?:${uriLabel}\\.)*(?!(?:[0-9]+|0[xX][0-9A-Fa-f]*)\\.?(?:[:/?#]|$))${uriLabel}\\.?`;
const port = "(?::(?:[0-9]{0,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
/**
 * An absolute http(s) URI as RFC 3986 writes it, and as URL parsers read it: ASCII only, percent-encoding
 * allowed outside the host, a host name (LDH labels, underscores allowed, the last not numeric), a dotted-quad IPv4 address or
 * a bracketed IPv6 address, an optional port up to 65535, path, query and fragment. validatePolicy also
 * checks that each xn-- label of the host decodes, which a JSON Schema cannot.
 */
export const REPORT_URI_PATTERN = `^https?://${userinfo}(?:\\[(?:${ipv6})\\]|${ipv4}|${uriHostName})${port}(?:/${pchar}*)*(?:\\?(?:${pchar}|[/?])*)?(?:#(?:${pchar}|[/?])*)?$`;

/**
 * A pin label: any text XML 1.0 can hold (labels are written into XML and plist comments), so no C0
 * control other than tab, LF and CR, no U+FFFE or U+FFFF and no unpaired surrogate.
 */
export const LABEL_PATTERN = "^[\\t\\n\\r\\u0020-\\uD7FF\\uE000-\\uFFFD\\u{10000}-\\u{10FFFF}]*$";

/**
 * LABEL_PATTERN as the JSON Schema gives it, readable by the regular-expression engines schema validators use
 * (Python's re cannot read `\u{10000}`): the characters a label may not hold, listed. A surrogate code point is
 * one of them: an engine that reads code points (ajv's u flag, Python) sees a paired surrogate as the one character
 * it stands for, which is allowed, and refuses an unpaired one.
 */
export const LABEL_SCHEMA_PATTERN =
  "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\uD800-\\uDFFF\\uFFFE\\uFFFF]*$";
