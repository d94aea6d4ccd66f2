// Certificate times: UTCTime and GeneralizedTime.

import { decodeLatin1 } from "../bytes.js";
import { type DerNode, TAG, tagName, valueBytes } from "../der.js";
import { KeypinParseError } from "../errors.js";

/**
 * Whether a certificate time is in the one form OpenSSL's verifier compares (`X509_cmp_time`): UTCTime
 * `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`, all digits. OpenSSL reads the other forms {@link readTime}
 * accepts, but a certificate carrying one fails verification ("format error in certificate's notAfter field"), so
 * such a certificate cannot be on a path OpenSSL accepts.
 */
export function isVerifierTime(der: Uint8Array, node: DerNode): boolean {
  const digits = node.tag === TAG.UTC_TIME ? 12 : node.tag === TAG.GENERALIZED_TIME ? 14 : -1;
  return (
    digits > 0 && node.end - node.valueStart === digits + 1 && isDigitsThenZ(der, node.valueStart, digits)
  );
}

/** `count` ASCII digits at `at`, then `Z`. */
function isDigitsThenZ(der: Uint8Array, at: number, count: number): boolean {
  for (let i = at; i < at + count; i++) {
    const b = der[i]!;
    if (b < 0x30 || b > 0x39) return false;
  }
  return der[at + count] === 0x5a;
}

/** The number written by the two ASCII digits at `at` (the caller checked they are digits). */
function twoDigits(der: Uint8Array, at: number): number {
  return (der[at]! - 0x30) * 10 + (der[at + 1]! - 0x30);
}

/**
 * Reads a certificate time in every form OpenSSL accepts in a certificate: UTCTime `YYMMDDHHMM[SS]` and
 * GeneralizedTime `YYYYMMDDHH[MM[SS[.fff]]]`, each ending in `Z` or an offset `+hhmm`/`-hhmm` (UTCTime years
 * 50–99 are 19xx). RFC 5280 asks for seconds and `Z`; certificates in the wild do not always comply.
 */
export function readTime(der: Uint8Array, node: DerNode): Date {
  // The form nearly every certificate uses (what the verifier compares), read without a regular expression; the
  // same date checks as below. Anything else takes the general reader.
  if (isVerifierTime(der, node)) {
    const v = node.valueStart;
    const long = node.tag === TAG.GENERALIZED_TIME;
    const at = long ? v + 2 : v;
    const yy = twoDigits(der, at);
    const year = long ? twoDigits(der, v) * 100 + yy : yy >= 50 ? 1900 + yy : 2000 + yy;
    const mo = twoDigits(der, at + 2);
    const d = twoDigits(der, at + 4);
    const h = twoDigits(der, at + 6);
    const mi = twoDigits(der, at + 8);
    const s = twoDigits(der, at + 10);
    const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
    if (year < 100) date.setUTCFullYear(year);
    if (mo >= 1 && mo <= 12 && date.getUTCDate() === d && h <= 23 && mi <= 59 && s <= 59) return date;
  }
  const text = decodeLatin1(valueBytes(der, node));
  let m: RegExpExecArray | null;
  let year = 0;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?()(Z|[+-]\d{4})$/.exec(text);
    if (m) {
      const yy = Number(m[1]);
      year = yy >= 50 ? 1900 + yy : 2000 + yy;
    }
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(?:(\d\d)(?:(\d\d)(\.\d+)?)?)?(Z|[+-]\d{4})$/.exec(text);
    if (m) year = Number(m[1]);
  } else {
    throw new KeypinParseError(
      `expected a UTCTime or GeneralizedTime at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  if (!m)
    throw new KeypinParseError(
      `malformed time ${JSON.stringify(text.slice(0, 40))} at byte ${node.start}`,
      node.start,
    );
  const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5] ?? "0", m[6] ?? "0"].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const zone = m[8]!;
  const offsetHours = zone === "Z" ? 0 : Number(zone.slice(1, 3));
  const offsetMinutes = zone === "Z" ? 0 : Number(zone.slice(3, 5));
  const local = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (year < 100) local.setUTCFullYear(year);
  if (
    mo < 1 ||
    mo > 12 ||
    local.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    offsetHours > 12 ||
    offsetMinutes > 59 ||
    Number.isNaN(local.getTime())
  ) {
    throw new KeypinParseError(
      `time ${JSON.stringify(text)} at byte ${node.start} is not a real date`,
      node.start,
    );
  }
  const sign = zone.startsWith("-") ? -1 : 1;
  return new Date(local.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
}
