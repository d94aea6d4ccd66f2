// Distinguished names as text (RFC 4514 style, most specific attribute first).

import { decodeLatin1, decodeUtf8, encodeHex } from "../bytes.js";
import { childrenOf, type DerNode, encodingOf, readOid, TAG, valueBytes } from "../der.js";
import { KeypinParseError } from "../errors.js";

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "2.5.4.97": "organizationIdentifier",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** A Name as RFC 4514 text: `CN=api.myapp.com, O=My App`. */
export function readName(der: Uint8Array, name: DerNode): string {
  return readNameForms(der, name).text;
}

/**
 * A Name both as {@link readName} and as {@link canonicalName} give it, in one walk (a certificate's subject and
 * issuer are read in both forms; reading each twice was a third of reading a certificate). Throws what readName
 * throws: canonicalName's checks are a subset of readName's, made on the same elements.
 */
export function readNameForms(der: Uint8Array, name: DerNode): { text: string; canonical: string } {
  if (name.tag !== TAG.SEQUENCE)
    throw new KeypinParseError(`expected a Name (SEQUENCE) at byte ${name.start}`, name.start);
  const rdns: string[] = [];
  const canonical: string[][] = [];
  for (const rdn of childrenOf(der, name)) {
    if (rdn.tag !== TAG.SET)
      throw new KeypinParseError(
        `expected a RelativeDistinguishedName (SET) at byte ${rdn.start}`,
        rdn.start,
      );
    const parts: string[] = [];
    const entries: string[] = [];
    for (const atv of childrenOf(der, rdn)) {
      const pair = atv.tag === TAG.SEQUENCE ? childrenOf(der, atv) : [];
      if (pair.length !== 2)
        throw new KeypinParseError(`malformed name attribute at byte ${atv.start}`, atv.start);
      const oid = readOid(der, pair[0]!);
      const value = pair[1]!;
      const short = ATTRIBUTE_NAMES[oid];
      const text = decodeDirectoryString(der, value);
      const hex = short && text !== undefined ? undefined : encodeHex(encodingOf(der, value));
      if (hex === undefined) parts.push(`${short}=${escapeRdnValue(text!)}`);
      else parts.push(`${oid}=#${hex}`);
      entries.push(canonicalEntry(der, oid, value, text, hex));
    }
    rdns.push(parts.join("+"));
    // OpenSSL encodes each RDN's canonical values as a DER SET OF, which sorts them: {O, CN} is {CN, O}.
    canonical.push(entries.sort());
  }
  return { text: rdns.reverse().join(", "), canonical: canonicalJson(canonical) };
}

/** One attribute in OpenSSL's canonical form; `text` is its decoded value, `hex` its DER in hex when known. */
function canonicalEntry(
  der: Uint8Array,
  oid: string,
  value: DerNode,
  text: string | undefined,
  hex?: string,
): string {
  return text !== undefined && CANONICAL_TYPES.has(value.tag) && !opensslReadsOtherwise(value.tag, text)
    ? `${oid}=${canonicalText(text)}`
    : `${oid}#${hex ?? encodeHex(encodingOf(der, value))}`;
}

/**
 * Where OpenSSL's canonical form is not the decoded text: a BMPString with surrogate code units (OpenSSL reads
 * BMPString as UCS-2 and encodes each unit on its own), and a UTF8String that is not valid UTF-8 (OpenSSL keeps
 * its bytes; decoding would map different bytes to the same U+FFFD). Such values compare by their DER.
 */
function opensslReadsOtherwise(tag: number, text: string): boolean {
  if (tag === 0x1e) return /[\ud800-\udfff]/.test(text);
  if (tag === 0x0c) return text.includes("\ufffd");
  return false;
}

/** Latin-1 text of short values in one call (decodeLatin1 appends a string per byte); the same characters. */
function latin1(v: Uint8Array): string {
  return v.length <= 256 ? String.fromCharCode.apply(null, v as unknown as number[]) : decodeLatin1(v);
}

/** True when every byte is ASCII: UTF-8 then decodes to the same characters as Latin-1. */
function isAscii(v: Uint8Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i]! >= 0x80) return false;
  return true;
}

export function decodeDirectoryString(der: Uint8Array, node: DerNode): string | undefined {
  const v = valueBytes(der, node);
  switch (node.tag) {
    case 0x0c: // UTF8String
      return isAscii(v) ? latin1(v) : decodeUtf8(v);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x14: // TeletexString (treated as Latin-1, as most software does)
      return latin1(v);
    case 0x1e: {
      // BMPString: UTF-16BE
      if (v.length % 2 !== 0)
        throw new KeypinParseError(`BMPString at byte ${node.start} has an odd length`, node.start);
      let s = "";
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
      return s;
    }
    case 0x1c: {
      // UniversalString: UTF-32BE
      if (v.length % 4 !== 0)
        throw new KeypinParseError(`UniversalString at byte ${node.start} has a bad length`, node.start);
      let s = "";
      for (let i = 0; i < v.length; i += 4) {
        const cp = ((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0;
        s += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
      }
      return s;
    }
    default:
      return undefined;
  }
}

/**
 * RFC 4514 §2.4 escaping, and `\uXXXX` for the characters that drive or reorder what a terminal shows: C1 controls
 * (U+009B is an 8-bit CSI), the line and paragraph separators, the bidirectional controls and U+FEFF. Review C1: a
 * forged leaf's subject reached PinMismatchError's message with them raw. Only the display form changes: names are
 * compared in their canonical form, which is made from the decoded value, and this form stays one-to-one (every
 * backslash it writes starts an escape), so two values get the same text exactly when they are the same.
 */
export function escapeRdnValue(value: string): string {
  if (!needsEscape(value)) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if (isHiddenControl(code)) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else if (',+"\\<>;'.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === " " || c === "#")) || (i === value.length - 1 && c === " ")) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/**
 * C1 controls, U+061C, U+200E, U+200F, U+2028 to U+202E, U+2066 to U+2069 and U+FEFF: the set the CLI and the audit
 * escape in what they print, and the byte order mark, which hides in copied text.
 */
function isHiddenControl(code: number): boolean {
  if (code < 0x80) return false;
  if (code <= 0x9f) return true;
  if (code < 0x061c) return false;
  return (
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    code === 0xfeff
  );
}

/** Whether {@link escapeRdnValue} changes anything: the same tests, without building a string. */
function needsEscape(value: string): boolean {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
    if (code >= 0x80 && isHiddenControl(code)) return true;
    // , + " \ < > ;
    if (code === 0x2c || code === 0x2b || code === 0x22 || code === 0x5c || code === 0x3c || code === 0x3e)
      return true;
    if (code === 0x3b) return true;
    if ((i === 0 && (code === 0x20 || code === 0x23)) || (i === last && code === 0x20)) return true;
  }
  return false;
}

/** String types OpenSSL canonicalizes before comparing names (its ASN1_MASK_CANON); NumericString is not one. */
const CANONICAL_TYPES = new Set([0x0c, 0x1e, 0x1c, 0x13, 0x14, 0x16, 0x1a]);

/** ASCII white space as OpenSSL's canonical form sees it: tab, newline, vertical tab, form feed, carriage return, space. */
function isCanonicalSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/**
 * `text` trimmed of white space, each inner run of it collapsed to one space, ASCII letters lowercased; in one pass
 * (three regular expressions took a fifth of reading a certificate).
 */
export function canonicalText(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isCanonicalSpace(text.charCodeAt(start))) start++;
  while (end > start && isCanonicalSpace(text.charCodeAt(end - 1))) end--;
  let out = "";
  let plain = start; // start of the run copied as is
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) {
      out += text.slice(plain, i) + String.fromCharCode(code + 0x20);
      plain = i + 1;
    } else if (isCanonicalSpace(code)) {
      let j = i + 1;
      while (j < end && isCanonicalSpace(text.charCodeAt(j))) j++;
      if (code !== 0x20 || j > i + 1) {
        out += `${text.slice(plain, i)} `;
        plain = j;
      }
      i = j - 1;
    }
  }
  return out + text.slice(plain, end);
}

/**
 * A Name in the form OpenSSL compares names in (`X509_NAME_cmp` on the canonical encoding): every value of a
 * string type trimmed, runs of white space collapsed to one space and ASCII lowercased; other values by their
 * DER. Two names are the same name exactly when their canonical forms are equal strings.
 */
export function canonicalName(der: Uint8Array, name: DerNode): string {
  if (name.tag !== TAG.SEQUENCE)
    throw new KeypinParseError(`expected a Name (SEQUENCE) at byte ${name.start}`, name.start);
  const rdns: string[][] = [];
  for (const rdn of childrenOf(der, name)) {
    const entries: string[] = [];
    for (const atv of childrenOf(der, rdn)) {
      const pair = atv.tag === TAG.SEQUENCE ? childrenOf(der, atv) : [];
      if (pair.length !== 2)
        throw new KeypinParseError(`malformed name attribute at byte ${atv.start}`, atv.start);
      const value = pair[1]!;
      const text = CANONICAL_TYPES.has(value.tag) ? decodeDirectoryString(der, value) : undefined;
      entries.push(canonicalEntry(der, readOid(der, pair[0]!), value, text));
    }
    // The same form as readNameForms gives a certificate's names, which this one is compared with.
    rdns.push(entries.sort());
  }
  return canonicalJson(rdns);
}

/**
 * `JSON.stringify(rdns)`, character for character, written directly when no value needs a JSON escape (a quote, a
 * backslash, a control character, a surrogate): the general serializer was a tenth of reading a certificate.
 */
export function canonicalJson(rdns: readonly (readonly string[])[]): string {
  let out = "[";
  for (let r = 0; r < rdns.length; r++) {
    const entries = rdns[r]!;
    out += r === 0 ? "[" : ",[";
    for (let e = 0; e < entries.length; e++) {
      const entry = entries[e]!;
      if (e > 0) out += ",";
      out += jsonPlain(entry) ? `"${entry}"` : JSON.stringify(entry);
    }
    out += "]";
  }
  return `${out}]`;
}

/** True when JSON.stringify writes `text` as it is between its quotes. */
function jsonPlain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return false;
  }
  return true;
}
