import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { BoundedCache } from "@keypin/core";

/**
 * A subject public key as node:crypto holds it, made once per SPKI: a new certificate for a key already met (a
 * renewed leaf under the same intermediate, another edge's chain) costs no second import. Keyed by the pin, the
 * SHA-256 of the exact SPKI bytes, so two entries share a key only when their SPKI bytes are the same.
 */
export interface PublicKeyEntry {
  /** null when node:crypto cannot read the key (then it verifies nothing). */
  key: KeyObject | null;
  /** What one verification with this key costs (signature.ts's verificationCost), worked out once. */
  cost?: number;
}

/**
 * Bounded in bytes too (review F2): a key's native form is weighed at 8x its SPKI + 2 KiB (an RSA-2048 key, 294
 * bytes of SPKI, about 4.4 KiB; a P-256 key about 2.7 KiB), so 8 MiB holds the 2048 entries of real keys while a
 * peer's oversized SPKI cannot fill memory. The weight is kept beside the entry, taken from the SPKI it was made of.
 */
export const KEY_CACHE_BYTES = 8 * 1024 * 1024;
const keys = new BoundedCache<{ entry: PublicKeyEntry; bytes: number }>(2048, {
  maxBytes: KEY_CACHE_BYTES,
  sizeOf: (held, pin) => held.bytes + 2 * pin.length,
});

/** @internal For keypin's own tests only: the key cache's entries, weighed bytes and budget. */
export function keyCacheStats(): { size: number; bytes: number; maxBytes: number } {
  return { size: keys.size, bytes: keys.bytes, maxBytes: keys.maxBytes };
}

/**
 * The KeyObject of `spki` (DER SubjectPublicKeyInfo), cached by `pin` (its SHA-256, as `computePin` gives it).
 *
 * Importing DER goes through OpenSSL 3's decoder framework: about 100 µs a key, RSA or EC, three times an RSA-2048
 * verification. When the SPKI is the canonical DER of an RSA key (rsaEncryption, NULL parameters, positive minimal
 * integers) or of an uncompressed point on P-256, P-384 or P-521, it is imported as the same key in JWK form instead
 * (RSA about 3 µs, EC about 60 µs: the point is still checked to be on the curve). Canonical means byte for byte the
 * unique DER of those numbers, so both imports read the same key; anything else takes the DER import.
 */
export function publicKeyEntryOf(spki: Uint8Array, pin: string): PublicKeyEntry {
  const hit = keys.get(pin);
  if (hit) return hit.entry;
  const entry: PublicKeyEntry = { key: importKey(spki) };
  keys.set(pin, { entry, bytes: 8 * spki.byteLength + 2048 });
  return entry;
}

function importKey(spki: Uint8Array): KeyObject | null {
  const jwk = canonicalJwkOf(spki);
  if (jwk) {
    try {
      return createPublicKey({ key: jwk, format: "jwk" });
    } catch {
      // fall through: the DER import decides
    }
  }
  try {
    return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch {
    return null;
  }
}

/** The fixed DER before an uncompressed point (0x04 ‖ x ‖ y) in a named-curve EC SPKI, and the coordinate length. */
const EC_PREFIXES: { crv: string; prefix: Buffer; size: number }[] = [
  // SEQUENCE { SEQUENCE { id-ecPublicKey, the curve }, BIT STRING { 00 unused bits, 04 … } }
  {
    crv: "P-256",
    prefix: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d03010703420004", "hex"),
    size: 32,
  },
  { crv: "P-384", prefix: Buffer.from("3076301006072a8648ce3d020106052b8104002203620004", "hex"), size: 48 },
  {
    crv: "P-521",
    prefix: Buffer.from("30819b301006072a8648ce3d020106052b810400230381860004", "hex"),
    size: 66,
  },
];

/** AlgorithmIdentifier { rsaEncryption, NULL }. */
const RSA_ALGORITHM = Buffer.from("300d06092a864886f70d0101010500", "hex");

/** The key in JWK form when `spki` is the canonical DER of an RSA key or of a P-256/384/521 point; else undefined. */
export function canonicalJwkOf(spki: Uint8Array): JsonWebKey | undefined {
  const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  for (const { crv, prefix, size } of EC_PREFIXES) {
    if (bytes.length !== prefix.length + 2 * size || !bytes.subarray(0, prefix.length).equals(prefix))
      continue;
    const x = bytes.subarray(prefix.length, prefix.length + size);
    const y = bytes.subarray(prefix.length + size);
    return { kty: "EC", crv, x: x.toString("base64url"), y: y.toString("base64url") };
  }
  const rsa = rsaNumbersOf(bytes);
  if (!rsa) return undefined;
  const canonical = encodeRsaSpki(rsa.n, rsa.e);
  if (!canonical.equals(bytes)) return undefined;
  return { kty: "RSA", n: rsa.n.toString("base64url"), e: rsa.e.toString("base64url") };
}

/** The magnitudes of n and e read from an rsaEncryption SPKI, loosely: the caller compares a re-encoding. */
function rsaNumbersOf(bytes: Buffer): { n: Buffer; e: Buffer } | undefined {
  const outer = tlv(bytes, 0);
  if (outer?.tag !== 0x30 || outer.end !== bytes.length) return undefined;
  if (!bytes.subarray(outer.value, outer.value + RSA_ALGORITHM.length).equals(RSA_ALGORITHM))
    return undefined;
  const bits = tlv(bytes, outer.value + RSA_ALGORITHM.length);
  if (bits?.tag !== 0x03 || bytes[bits.value] !== 0) return undefined;
  const seq = tlv(bytes, bits.value + 1);
  if (seq?.tag !== 0x30) return undefined;
  const n = tlv(bytes, seq.value);
  if (n?.tag !== 0x02) return undefined;
  const e = tlv(bytes, n.end);
  if (e?.tag !== 0x02) return undefined;
  const magnitude = (start: number, end: number) => {
    const v = bytes.subarray(start, end);
    // Negative or zero numbers are not RSA keys: leave them to the DER import.
    if (v.length === 0 || (v[0]! & 0x80) !== 0) return undefined;
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    return v[i] === 0 ? undefined : v.subarray(i);
  };
  const nBytes = magnitude(n.value, n.end);
  const eBytes = magnitude(e.value, e.end);
  return nBytes && eBytes ? { n: nBytes, e: eBytes } : undefined;
}

function tlv(bytes: Buffer, at: number): { tag: number; value: number; end: number } | undefined {
  if (at + 2 > bytes.length) return undefined;
  const tag = bytes[at]!;
  let length = bytes[at + 1]!;
  let value = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || value + count > bytes.length) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[value + i]!;
    value += count;
  }
  const end = value + length;
  return end <= bytes.length ? { tag, value, end } : undefined;
}

/** DER length octets. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const out: number[] = [];
  for (let l = length; l > 0; l = Math.floor(l / 256)) out.unshift(l & 0xff);
  return Buffer.from([0x80 | out.length, ...out]);
}

function derTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.of(tag), derLength(value.length), value]);
}

/** A positive INTEGER from its magnitude (no leading zero octets): a 00 octet first when the top bit is set. */
function derPositiveInteger(magnitude: Buffer): Buffer {
  return derTlv(0x02, magnitude[0]! & 0x80 ? Buffer.concat([Buffer.of(0), magnitude]) : magnitude);
}

/** The one DER SubjectPublicKeyInfo of the RSA key (n, e). */
export function encodeRsaSpki(n: Buffer, e: Buffer): Buffer {
  const key = derTlv(0x30, Buffer.concat([derPositiveInteger(n), derPositiveInteger(e)]));
  return derTlv(0x30, Buffer.concat([RSA_ALGORITHM, derTlv(0x03, Buffer.concat([Buffer.of(0), key]))]));
}
