import { BASE64_CODES, decodeBase64 } from "./bytes.js";
import { KeypinError, pinFormatError } from "./errors.js";
import type { Pin, Sha256 } from "./types.js";

/**
 * The pin of a public key: `sha256/` + base64(SHA-256(DER SubjectPublicKeyInfo)). Pass the SPKI bytes
 * exactly as encoded (`CertificateInfo.spki`, `parseSpki(...).spki`), never the certificate or a raw key.
 *
 * @example
 * ```ts
 * import { createHash } from "node:crypto";
 * const sha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());
 * const pin = computePin(parseCertificate(der).spki, sha256); // "sha256/…="
 * ```
 */
export function computePin(spki: Uint8Array, sha256: Sha256): Pin {
  const base64 = sha256.base64;
  if (typeof base64 === "function") {
    const text = base64(spki);
    // A shape check, enough to catch an adapter that returns hex or base64url: a wrong string of this shape
    // can only fail to match a pin (pins are compared as canonical strings), never match one it should not.
    if (typeof text !== "string" || text.length !== 44 || text.charCodeAt(43) !== 61) {
      throw new KeypinError(
        "ERR_KEYPIN_HASH",
        `The sha256.base64 function returned ${typeof text === "string" ? `${text.length} characters` : typeof text}; expected the 44-character padded base64 of a 32-byte digest.`,
      );
    }
    return `sha256/${text}` as Pin;
  }
  const digest = sha256(spki);
  // Checked by shape, not instanceof: the hash may come from another realm (a vm context, an iframe).
  if (
    !ArrayBuffer.isView(digest) ||
    digest.byteLength !== 32 ||
    (digest as Uint8Array).BYTES_PER_ELEMENT !== 1
  ) {
    throw new KeypinError(
      "ERR_KEYPIN_HASH",
      `The sha256 function returned ${ArrayBuffer.isView(digest) ? `${digest.byteLength} bytes` : typeof digest}; expected a 32-byte Uint8Array.`,
    );
  }
  return pinOfDigest(digest);
}

// "sha256/" and the 44 base64 characters of a digest, written into one reused array of character codes
// and turned into one flat string: the cheapest way found to build a pin (measured in bench target 3),
// which happens for every certificate of every pinned handshake. Reusing the array is safe: nothing
// between filling it and reading it can run other JavaScript.
const pinChars: number[] = [
  ...Array.from("sha256/", (c) => c.charCodeAt(0)),
  ...new Array<number>(44).fill(0),
];

/** `sha256/<base64>` of a 32-byte digest. */
function pinOfDigest(d: Uint8Array): Pin {
  let o = 7;
  for (let i = 0; i < 30; i += 3) {
    const n = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
    pinChars[o++] = BASE64_CODES[n >> 18]!;
    pinChars[o++] = BASE64_CODES[(n >> 12) & 63]!;
    pinChars[o++] = BASE64_CODES[(n >> 6) & 63]!;
    pinChars[o++] = BASE64_CODES[n & 63]!;
  }
  const n = (d[30]! << 16) | (d[31]! << 8);
  pinChars[o++] = BASE64_CODES[n >> 18]!;
  pinChars[o++] = BASE64_CODES[(n >> 12) & 63]!;
  pinChars[o++] = BASE64_CODES[(n >> 6) & 63]!;
  pinChars[o] = 61; // '='
  return String.fromCharCode.apply(null, pinChars) as Pin;
}

/**
 * Parses a pin as users paste it and returns its canonical `sha256/<base64>` form. Accepts OkHttp's
 * `sha256/…`, HPKP's `pin-sha256="…"` and bare base64 (TrustKit, Android, iOS); surrounding spaces are
 * ignored. Throws a {@link KeypinError} with code `ERR_KEYPIN_PIN_FORMAT` saying why otherwise: hex,
 * base64url, `sha1/`, or not 32 bytes.
 *
 * @example
 * ```ts
 * parsePin('pin-sha256="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="');
 * // → "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
 * ```
 */
export function parsePin(text: string): Pin {
  if (typeof text !== "string") throw pinFormatError(String(text), "is not a string");
  const input = text.trim();
  let body = input;
  const hpkp = /^pin-([A-Za-z0-9-]+)\s*=\s*(.*)$/s.exec(input);
  const prefixed = /^([A-Za-z0-9-]+)\/(.*)$/s.exec(input);
  if (/^[A-Za-z0-9+/]{43}=$/.test(input)) {
    // Bare base64 of 32 bytes, even when it happens to begin like "sha1/" or "md5/".
  } else if (hpkp) {
    const algorithm = hpkp[1]!.toLowerCase().replace(/[-_]/g, "");
    if (algorithm !== "sha256") throw pinFormatError(text, unsupportedAlgorithm(algorithm));
    body = hpkp[2]!;
    if (body.startsWith('"') !== body.endsWith('"') || (body.startsWith('"') && body.length < 2)) {
      throw pinFormatError(text, "has unbalanced quotes");
    }
    if (body.startsWith('"')) body = body.slice(1, -1);
  } else if (prefixed && /^(?:sha|md)[-_]?\d*$/i.test(prefixed[1]!)) {
    const algorithm = prefixed[1]!.toLowerCase().replace(/[-_]/g, "");
    if (algorithm !== "sha256") throw pinFormatError(text, unsupportedAlgorithm(algorithm));
    body = prefixed[2]!;
  }
  if (body === "") throw pinFormatError(text, "is empty");
  const hexDigits = body.replace(/[:\s]/g, "");
  if (
    /^[0-9a-fA-F]+$/.test(hexDigits) &&
    (hexDigits.length === 64 || hexDigits.length === 40 || body.includes(":"))
  ) {
    throw pinFormatError(
      text,
      `is hex (${hexDigits.length} hex digits${hexDigits.length === 40 ? ", the size of a SHA-1 hash" : ""}); pins are base64. Convert a SHA-256 hex digest with: echo <hex> | xxd -r -p | base64`,
    );
  }
  const decoded = decodeBase64(body);
  if (!(decoded instanceof Uint8Array))
    throw pinFormatError(text, `is not valid base64: it ${decoded.reason}`);
  if (decoded.length !== 32) {
    throw pinFormatError(
      text,
      `decodes to ${decoded.length} bytes, but a SHA-256 pin is 32 bytes${decoded.length === 20 ? " (20 bytes is a SHA-1 hash, which is not supported)" : ""}`,
    );
  }
  return pinOfDigest(decoded);
}

function unsupportedAlgorithm(algorithm: string): string {
  return algorithm === "sha1"
    ? "is a SHA-1 pin; SHA-1 pins are not supported (HPKP and OkHttp 3+ use SHA-256): compute a sha256/ pin of the same key"
    : `uses the hash "${algorithm}"; only sha256 pins are supported`;
}

/**
 * The bare base64 of a pin, as TrustKit, Android's network security config and iOS ATS want it.
 *
 * @example
 * ```ts
 * pinToBase64("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="); // "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
 * ```
 */
export function pinToBase64(pin: Pin): string {
  return parsePin(pin).slice("sha256/".length);
}

/**
 * The HPKP (RFC 7469) form of a pin: `pin-sha256="…"`, as used in `known-pins` of reports.
 *
 * @example
 * ```ts
 * formatHpkpPin("sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="); // 'pin-sha256="47DEQ…="'
 * ```
 */
export function formatHpkpPin(pin: Pin): string {
  return `pin-sha256="${pinToBase64(pin)}"`;
}
