// What a private key's DER says about the work of loading it, read before any crypto library touches it.
// Loading a key is not always cheap: OpenSSL computes a DSA key's public half (g^x mod p) for a prime of any
// size, and runs a PBKDF2 iteration count of up to 2^31 - 1. A key file is input like any other, so the
// parameters that set that work are read here first and bounded.

import { childrenOf, type DerNode, readNode, readOid, TAG, valueBytes } from "../der.js";
import { KeypinParseError } from "../errors.js";

const OID = {
  rsa: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ec: "1.2.840.10045.2.1",
  dsa: "1.2.840.10040.4.1",
  dh: "1.2.840.113549.1.3.1",
  dhX942: "1.2.840.10046.2.1",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  scrypt: "1.3.6.1.4.1.11591.4.11",
} as const;

/** Key algorithms keypin pins: RSA, RSA-PSS, EC, Ed25519, Ed448, X25519, X448. */
const PINNABLE = new Set<string>([
  OID.rsa,
  OID.rsaPss,
  OID.ec,
  "1.3.101.110",
  "1.3.101.111",
  "1.3.101.112",
  "1.3.101.113",
]);

/** Bounds on the work of loading a key; each is far above what any key generator writes. */
export const PRIVATE_KEY_LIMITS = {
  /** RSA moduli up to 16,384 bits (RSA-4096 is the largest in common use). */
  rsaModulusBits: 16_384,
  /** PBKDF2 and PKCS#5/#12 iteration counts up to 10 million (OpenSSL writes 2,048; OWASP asks 600,000). */
  iterations: 10_000_000,
  /** scrypt's N × r × p up to 2^20 (OpenSSL's default is 2^14 × 8 × 1 = 2^17). */
  scryptCost: 2 ** 20,
  /**
   * scrypt's memory, 128 × r × (N + p + 2) bytes, up to 128 × 2^20 (128 MiB: the cost cap with p = 1; OpenSSL's
   * default 2^14 × 8 takes 16 MiB). A decrypter passes it as scrypt's `maxmem`.
   */
  scryptMaxmem: 128 * 2 ** 20,
  /**
   * PKCS#12 PBE iteration counts up to 1 million: keypin runs that key derivation in JavaScript, three
   * SHA-1 chains of this length (about 3 s; OpenSSL 1.0's `pkcs8 -topk8` wrote 2,048).
   */
  pkcs12Iterations: 1_000_000,
} as const;

/** PKCS#5 v1.5 PBES1 and PKCS#12 PBE schemes: parameters SEQUENCE { salt, iterationCount }. */
function isSaltIterationScheme(oid: string): boolean {
  return (
    /^1\.2\.840\.113549\.1\.5\.(1|3|4|6|10|11)$/.test(oid) || /^1\.2\.840\.113549\.1\.12\.1\.[1-6]$/.test(oid)
  );
}

function bitsOf(der: Uint8Array, node: DerNode): number {
  const value = valueBytes(der, node);
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  const first = value[i] ?? 0;
  return first === 0 ? 0 : (value.length - i - 1) * 8 + (32 - Math.clz32(first));
}

/** A non-negative INTEGER as a number, or Infinity when it passes 2^53. */
function numberOf(der: Uint8Array, node: DerNode | undefined): number {
  if (node?.tag !== TAG.INTEGER) return Number.NaN;
  const value = valueBytes(der, node);
  if (value.length === 0 || (value[0]! & 0x80) !== 0) return Number.NaN;
  if (bitsOf(der, node) > 53) return Number.POSITIVE_INFINITY;
  let n = 0;
  for (const byte of value) n = n * 256 + byte;
  return n;
}

function children(der: Uint8Array, node: DerNode | undefined): DerNode[] {
  return node && (node.tag & 0x20) !== 0 ? childrenOf(der, node) : [];
}

function rsaModulusProblem(der: Uint8Array, rsaPrivateKey: DerNode | undefined): string | undefined {
  const modulus = children(der, rsaPrivateKey)[1];
  if (modulus?.tag !== TAG.INTEGER) return undefined;
  const bits = bitsOf(der, modulus);
  return bits > PRIVATE_KEY_LIMITS.rsaModulusBits
    ? `an RSA key of ${bits} bits (at most ${PRIVATE_KEY_LIMITS.rsaModulusBits} are read)`
    : undefined;
}

function encryptionProblem(der: Uint8Array, algorithm: DerNode): string | undefined {
  const [schemeOid, params] = children(der, algorithm);
  if (schemeOid?.tag !== TAG.OID) return undefined;
  const scheme = readOid(der, schemeOid);
  const iterationsProblem = (count: number): string | undefined =>
    count > PRIVATE_KEY_LIMITS.iterations
      ? `encrypted with ${Number.isFinite(count) ? count.toLocaleString("en-US") : "more than 2^53"} key-derivation iterations (at most ${PRIVATE_KEY_LIMITS.iterations.toLocaleString("en-US")} are run): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW`
      : undefined;
  if (isSaltIterationScheme(scheme)) {
    const count = numberOf(der, children(der, params)[1]);
    if (scheme.startsWith("1.2.840.113549.1.12.1.") && count > PRIVATE_KEY_LIMITS.pkcs12Iterations)
      return `encrypted with ${Number.isFinite(count) ? count.toLocaleString("en-US") : "more than 2^53"} PKCS#12 key-derivation iterations (at most ${PRIVATE_KEY_LIMITS.pkcs12Iterations.toLocaleString("en-US")} are run): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW`;
    return iterationsProblem(count);
  }
  if (scheme !== OID.pbes2) return undefined;
  const [kdf] = children(der, params);
  const [kdfOid, kdfParams] = children(der, kdf);
  if (kdfOid?.tag !== TAG.OID) return undefined;
  const kdfName = readOid(der, kdfOid);
  const fields = children(der, kdfParams);
  if (kdfName === OID.pbkdf2) return iterationsProblem(numberOf(der, fields[1]));
  if (kdfName === OID.scrypt) {
    const cost = numberOf(der, fields[1]) * numberOf(der, fields[2]) * numberOf(der, fields[3]);
    if (cost > PRIVATE_KEY_LIMITS.scryptCost)
      return `encrypted with scrypt parameters of cost N×r×p = ${Number.isFinite(cost) ? cost : "over 2^53"} (at most 2^20 are run): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW`;
    const [n, r, p] = [numberOf(der, fields[1]), numberOf(der, fields[2]), numberOf(der, fields[3])];
    const memory = 128 * r * (n + p + 2);
    if (memory > PRIVATE_KEY_LIMITS.scryptMaxmem)
      return `encrypted with scrypt parameters that take ${Number.isFinite(memory) ? memory.toLocaleString("en-US") : "over 2^53"} bytes of memory (at most ${PRIVATE_KEY_LIMITS.scryptMaxmem.toLocaleString("en-US")} are used): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW`;
  }
  return undefined;
}

/**
 * Why loading this private key (DER: PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1, or OpenSSL's traditional
 * DSA form) is refused, or `undefined` when its load is bounded. Refused: DSA and Diffie-Hellman keys (no TLS
 * certificate keypin pins carries one, and deriving their public half costs as much as their prime is long),
 * other algorithms keypin does not pin, RSA moduli over 16,384 bits, and encrypted keys whose key derivation
 * asks for more than {@link PRIVATE_KEY_LIMITS}. An encrypted key's own algorithm is only known after
 * decryption; the caller checks the decrypted key again when it can see it. DER that is none of these forms
 * is left to the loader, which refuses it. Throws `KeypinParseError` only for DER that is malformed.
 *
 * @example
 * privateKeyRefusal(derOfDsaKey); // "a DSA key: keypin pins RSA, EC and EdDSA keys"
 */
export function privateKeyRefusal(der: Uint8Array): string | undefined {
  const top = readNode(der, 0, der.length);
  if (top.tag !== TAG.SEQUENCE) throw new KeypinParseError("a private key is a DER SEQUENCE", top.start);
  const parts = childrenOf(der, top);
  const [a, b, c] = parts;
  // EncryptedPrivateKeyInfo: SEQUENCE { AlgorithmIdentifier, OCTET STRING }.
  if (parts.length === 2 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.OCTET_STRING)
    return encryptionProblem(der, a);
  if (a?.tag !== TAG.INTEGER) return undefined;
  // PrivateKeyInfo: SEQUENCE { version, AlgorithmIdentifier, OCTET STRING privateKey, … }.
  if (b?.tag === TAG.SEQUENCE && c?.tag === TAG.OCTET_STRING) {
    const [oidNode] = children(der, b);
    if (oidNode?.tag !== TAG.OID) return undefined;
    const oid = readOid(der, oidNode);
    if (oid === OID.dsa) return "a DSA key: keypin pins RSA, EC and EdDSA keys";
    if (oid === OID.dh || oid === OID.dhX942)
      return "a Diffie-Hellman key: keypin pins RSA, EC and EdDSA keys";
    if (!PINNABLE.has(oid)) return `a key of algorithm ${oid}, which keypin does not pin`;
    if (oid === OID.rsa || oid === OID.rsaPss) {
      const inner = valueBytes(der, c);
      return rsaModulusProblem(inner, readNode(inner, 0, inner.length));
    }
    return undefined;
  }
  // OpenSSL's traditional DSA key: SEQUENCE { 0, p, q, g, y, x }; PKCS#1 RSA: SEQUENCE { 0, n, e, d, p, q, … }.
  const integers = parts.every((part) => part.tag === TAG.INTEGER);
  if (integers && parts.length === 6) return "a DSA key: keypin pins RSA, EC and EdDSA keys";
  if (integers && parts.length >= 9) return rsaModulusProblem(der, top);
  return undefined;
}

/** The key derivation of a PBES2-encrypted PKCS#8 key: PBKDF2 with an HMAC, or scrypt. */
export type Pbes2Kdf =
  | {
      name: "pbkdf2";
      salt: Uint8Array;
      iterations: number;
      /** The PBKDF2 PRF's digest, as node:crypto names it. */
      digest: "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "sha512-224" | "sha512-256";
    }
  | { name: "scrypt"; salt: Uint8Array; N: number; r: number; p: number };

/** The parameters of a PBES2-encrypted PKCS#8 key in a form node:crypto can decrypt (see {@link readPbes2}). */
export interface Pbes2 {
  kdf: Pbes2Kdf;
  /** The cipher, as node:crypto names it. */
  cipher: "aes-128-cbc" | "aes-192-cbc" | "aes-256-cbc" | "des-ede3-cbc";
  /** The cipher's key length in bytes. */
  keyLength: 16 | 24 | 32;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

const PRF: Record<string, Extract<Pbes2Kdf, { name: "pbkdf2" }>["digest"]> = {
  "1.2.840.113549.2.7": "sha1",
  "1.2.840.113549.2.8": "sha224",
  "1.2.840.113549.2.9": "sha256",
  "1.2.840.113549.2.10": "sha384",
  "1.2.840.113549.2.11": "sha512",
  "1.2.840.113549.2.12": "sha512-224",
  "1.2.840.113549.2.13": "sha512-256",
};
const CIPHERS: Record<string, { cipher: Pbes2["cipher"]; keyLength: Pbes2["keyLength"]; ivLength: number }> =
  {
    "2.16.840.1.101.3.4.1.2": { cipher: "aes-128-cbc", keyLength: 16, ivLength: 16 },
    "2.16.840.1.101.3.4.1.22": { cipher: "aes-192-cbc", keyLength: 24, ivLength: 16 },
    "2.16.840.1.101.3.4.1.42": { cipher: "aes-256-cbc", keyLength: 32, ivLength: 16 },
    "1.2.840.113549.3.7": { cipher: "des-ede3-cbc", keyLength: 24, ivLength: 8 },
  };

/** A positive INTEGER that fits a safe integer, or `undefined`. */
function positive(der: Uint8Array, node: DerNode | undefined): number | undefined {
  const n = numberOf(der, node);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

function readKdf(
  der: Uint8Array,
  kdf: DerNode | undefined,
): { kdf: Pbes2Kdf; keyLength?: number } | undefined {
  const [kdfOid, kdfParams] = children(der, kdf);
  if (kdfOid?.tag !== TAG.OID) return undefined;
  const kdfName = readOid(der, kdfOid);
  const fields = children(der, kdfParams);
  const [salt] = fields;
  // PBKDF2's salt may also be an AlgorithmIdentifier (otherSource), which nothing writes: not read.
  if (salt?.tag !== TAG.OCTET_STRING) return undefined;
  if (kdfName === OID.pbkdf2) {
    const iterations = positive(der, fields[1]);
    if (iterations === undefined) return undefined;
    let rest = fields.slice(2);
    const keyLength = rest[0]?.tag === TAG.INTEGER ? positive(der, rest[0]) : undefined;
    if (rest[0]?.tag === TAG.INTEGER) {
      if (keyLength === undefined) return undefined;
      rest = rest.slice(1);
    }
    let digest: Extract<Pbes2Kdf, { name: "pbkdf2" }>["digest"] = "sha1";
    if (rest.length > 1) return undefined;
    if (rest.length === 1) {
      const [prfOid] = children(der, rest[0]);
      const named = prfOid?.tag === TAG.OID ? PRF[readOid(der, prfOid)] : undefined;
      if (named === undefined) return undefined;
      digest = named;
    }
    const read = { name: "pbkdf2", salt: valueBytes(der, salt), iterations, digest } as const;
    return keyLength === undefined ? { kdf: read } : { kdf: read, keyLength };
  }
  if (kdfName === OID.scrypt) {
    const [N, r, p] = [positive(der, fields[1]), positive(der, fields[2]), positive(der, fields[3])];
    // scrypt's N is a power of two above 1.
    if (N === undefined || r === undefined || p === undefined || N < 2 || !Number.isInteger(Math.log2(N)))
      return undefined;
    if (fields.length > 5) return undefined;
    const read = { name: "scrypt", salt: valueBytes(der, salt), N, r, p } as const;
    if (fields[4] === undefined) return { kdf: read };
    const keyLength = positive(der, fields[4]);
    return keyLength === undefined ? undefined : { kdf: read, keyLength };
  }
  return undefined;
}

/**
 * The PBES2 parameters of an EncryptedPrivateKeyInfo that node:crypto can decrypt: PBKDF2 (HMAC with SHA-1,
 * SHA-224, SHA-256, SHA-384, SHA-512, SHA-512/224 or SHA-512/256) or scrypt, with AES-128/192/256-CBC or
 * DES-EDE3-CBC (every form `openssl pkcs8 -topk8 -v2 …` writes with OpenSSL 3's default provider), so that the
 * caller decrypts it and checks the key inside with {@link privateKeyRefusal} before any loader reads it;
 * `undefined` for any other form (PBES1, PKCS#12 PBE, other ciphers or PRFs, malformed parameters). Does not
 * bound the key derivation's work: call {@link privateKeyRefusal} first.
 *
 * @example
 * const p = readPbes2(der); // { kdf: { name: "pbkdf2", iterations: 2048, digest: "sha256", … }, cipher: "aes-256-cbc", … }
 */
export function readPbes2(der: Uint8Array): Pbes2 | undefined {
  const top = readNode(der, 0, der.length);
  const parts = children(der, top);
  const [algorithm, data] = parts;
  if (parts.length !== 2 || algorithm?.tag !== TAG.SEQUENCE || data?.tag !== TAG.OCTET_STRING)
    return undefined;
  const [schemeOid, params] = children(der, algorithm);
  if (schemeOid?.tag !== TAG.OID || readOid(der, schemeOid) !== OID.pbes2) return undefined;
  const [kdf, cipher] = children(der, params);
  const derivation = readKdf(der, kdf);
  if (derivation === undefined) return undefined;
  const [cipherOid, iv] = children(der, cipher);
  const known = cipherOid?.tag === TAG.OID ? CIPHERS[readOid(der, cipherOid)] : undefined;
  if (known === undefined || iv?.tag !== TAG.OCTET_STRING || iv.end - iv.valueStart !== known.ivLength)
    return undefined;
  if (derivation.keyLength !== undefined && derivation.keyLength !== known.keyLength) return undefined;
  return {
    kdf: derivation.kdf,
    cipher: known.cipher,
    keyLength: known.keyLength,
    iv: valueBytes(der, iv),
    ciphertext: valueBytes(der, data),
  };
}

/** The parameters of a PKCS#8 key encrypted with PKCS#12 PBE and SHA-1 (see {@link readPkcs12Pbe}). */
export interface Pkcs12Pbe {
  salt: Uint8Array;
  iterations: number;
  /** Three-key or two-key triple DES, as node:crypto names it. */
  cipher: "des-ede3-cbc" | "des-ede-cbc";
  keyLength: 24 | 16;
  ciphertext: Uint8Array;
}

const PKCS12_PBE: Record<string, Pick<Pkcs12Pbe, "cipher" | "keyLength">> = {
  "1.2.840.113549.1.12.1.3": { cipher: "des-ede3-cbc", keyLength: 24 },
  "1.2.840.113549.1.12.1.4": { cipher: "des-ede-cbc", keyLength: 16 },
};

/**
 * The parameters of an EncryptedPrivateKeyInfo encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC or
 * pbeWithSHAAnd2-KeyTripleDES-CBC (RFC 7292; what OpenSSL 1.0's `pkcs8 -topk8` wrote by default), for a
 * caller that runs the PKCS#12 key derivation itself; `undefined` for any other form (the RC2 and RC4 ones
 * included). Does not bound the iterations: call {@link privateKeyRefusal} first.
 *
 * @example
 * const p = readPkcs12Pbe(der); // { salt, iterations: 2048, cipher: "des-ede3-cbc", keyLength: 24, ciphertext }
 */
export function readPkcs12Pbe(der: Uint8Array): Pkcs12Pbe | undefined {
  const top = readNode(der, 0, der.length);
  const parts = children(der, top);
  const [algorithm, data] = parts;
  if (parts.length !== 2 || algorithm?.tag !== TAG.SEQUENCE || data?.tag !== TAG.OCTET_STRING)
    return undefined;
  const [schemeOid, params] = children(der, algorithm);
  const scheme = schemeOid?.tag === TAG.OID ? PKCS12_PBE[readOid(der, schemeOid)] : undefined;
  if (scheme === undefined) return undefined;
  const fields = children(der, params);
  const [salt] = fields;
  const iterations = positive(der, fields[1]);
  if (fields.length !== 2 || salt?.tag !== TAG.OCTET_STRING || iterations === undefined) return undefined;
  return { salt: valueBytes(der, salt), iterations, ...scheme, ciphertext: valueBytes(der, data) };
}
