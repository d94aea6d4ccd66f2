// Small byte helpers. @keypin/core runs where Buffer, TextDecoder and atob may not exist,
// so base64, hex and UTF-8 are done here by hand.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** The character codes of the base64 alphabet, by value (0–63), for encoders that build strings from codes. */
export const BASE64_CODES: readonly number[] = Array.from(ALPHABET, (c) => c.charCodeAt(0));

/** Standard base64 (RFC 4648 §4) with `=` padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + "=";
  }
  return out;
}

/** Why a base64 text could not be decoded; `index` is the offending character's index. */
export interface Base64Failure {
  index: number;
  reason: string;
}

/**
 * Strict standard base64: only `A–Z a–z 0–9 + /`, padding `=` only at the end and only to a multiple of
 * four characters. Returns the bytes, or why not. Whitespace must be removed by the caller.
 */
export function decodeBase64(text: string): Uint8Array | Base64Failure {
  let end = text.length;
  let pad = 0;
  while (end > 0 && text.charCodeAt(end - 1) === 61 /* = */) {
    end--;
    pad++;
  }
  if (pad > 2) return { index: end, reason: "has more than two '=' padding characters" };
  if ((end + pad) % 4 !== 0) {
    return {
      index: text.length,
      reason: `has ${end + pad} characters, not a multiple of 4 (missing '=' padding?)`,
    };
  }
  if (pad > 0 && end % 4 === 1) return { index: end, reason: "has a malformed last group" };
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) {
      const ch = text[i]!;
      const what =
        ch === "-" || ch === "_"
          ? `has the base64url character '${ch}'; use standard base64 ('+' and '/')`
          : ch === "="
            ? "has '=' before the end"
            : `has the character ${JSON.stringify(ch)}, which is not base64`;
      return { index: i, reason: what };
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

const HEX = "0123456789abcdef";

/** Lowercase hex, no separators. */
export function encodeHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** UTF-8 to string, as the WHATWG Encoding Standard decodes it: each maximal invalid subpart becomes U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i++]!;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      continue;
    }
    let need: number;
    let cp: number;
    let lower = 0x80;
    let upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0x0f;
      if (b === 0xe0) lower = 0xa0;
      if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x07;
      if (b === 0xf0) lower = 0x90;
      if (b === 0xf4) upper = 0x8f;
    } else {
      out += "\ufffd";
      continue;
    }
    let ok = true;
    for (let k = 0; k < need; k++) {
      const c = bytes[i];
      if (c === undefined || c < lower || c > upper) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (c & 0x3f);
      i++;
      lower = 0x80;
      upper = 0xbf;
    }
    out += ok ? String.fromCodePoint(cp) : "\ufffd";
  }
  return out;
}

/** Latin-1 / ASCII bytes to string (one character per byte). */
export function decodeLatin1(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}
