// SubjectPublicKeyInfo: the bytes a pin hashes, checked and named (RSA-2048, EC-P256, Ed25519 …).

import {
  childrenOf,
  type DerNode,
  encodeNode,
  expectNode,
  readBitStringBytes,
  readNode,
  readOid,
  TAG,
  tagName,
} from "../der.js";
import { KeypinParseError } from "../errors.js";

const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
  dsa: "1.2.840.10040.4.1",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  x25519: "1.3.101.110",
  x448: "1.3.101.111",
} as const;

const CURVES: Record<string, { name: string; size: number }> = {
  "1.2.840.10045.3.1.7": { name: "P256", size: 32 },
  "1.3.132.0.34": { name: "P384", size: 48 },
  "1.3.132.0.35": { name: "P521", size: 66 },
  "1.3.132.0.10": { name: "secp256k1", size: 32 },
  "1.3.36.3.3.2.8.1.1.7": { name: "brainpoolP256r1", size: 32 },
  "1.3.36.3.3.2.8.1.1.11": { name: "brainpoolP384r1", size: 48 },
  "1.3.36.3.3.2.8.1.1.13": { name: "brainpoolP512r1", size: 64 },
};

/**
 * Checks a DER SubjectPublicKeyInfo and names its key type. The input must be exactly one SPKI
 * (no trailing bytes); `spki` is a copy of it.
 *
 * @example
 * ```ts
 * const { spki, keyType } = parseSpki(derFromOpensslPkeyPubout); // keyType "EC-P256"
 * const pin = computePin(spki, sha256);
 * ```
 */
export function parseSpki(der: Uint8Array): { spki: Uint8Array; keyType: string } {
  const node = readNode(der, 0, der.length);
  if (node.end !== der.length) {
    throw new KeypinParseError(`${der.length - node.end} unexpected bytes after the public key`, node.end);
  }
  const keyType = keyTypeOf(der, node);
  return { spki: new Uint8Array(der), keyType };
}

/** Validates the SPKI at `node` and returns its key type. */
export function keyTypeOf(bytes: Uint8Array, node: DerNode): string {
  if (node.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `expected a SubjectPublicKeyInfo (SEQUENCE) at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  const parts = childrenOf(bytes, node);
  const [algorithm, key] = parts;
  if (parts.length !== 2 || !algorithm || !key) {
    throw new KeypinParseError(
      `SubjectPublicKeyInfo at byte ${node.start} has ${parts.length} parts; expected 2`,
      node.start,
    );
  }
  if (algorithm.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `expected the key's AlgorithmIdentifier (SEQUENCE) at byte ${algorithm.start}`,
      algorithm.start,
    );
  }
  const alg = childrenOf(bytes, algorithm);
  if (alg.length < 1 || alg.length > 2) {
    throw new KeypinParseError(
      `AlgorithmIdentifier at byte ${algorithm.start} has ${alg.length} parts`,
      algorithm.start,
    );
  }
  const oid = readOid(bytes, alg[0]!);
  const params = alg[1];
  const publicKey = readBitStringBytes(bytes, key, "the public key");
  const keyAt = key.valueStart + 1;
  switch (oid) {
    case OID.rsaEncryption:
    case OID.rsaPss: {
      const bits = rsaModulusBits(publicKey, keyAt);
      return `${oid === OID.rsaPss ? "RSA-PSS" : "RSA"}-${bits}`;
    }
    case OID.ecPublicKey: {
      if (params?.tag === TAG.SEQUENCE) return "EC-explicit"; // explicit curve parameters (rare, legacy)
      if (!params || params.tag !== TAG.OID) {
        throw new KeypinParseError(
          `EC public key at byte ${node.start} has no curve parameters (expected a named curve OID)`,
          params?.start ?? algorithm.end,
        );
      }
      const curveOid = readOid(bytes, params);
      const curve = CURVES[curveOid];
      const first = publicKey[0];
      if (curve) {
        const ok =
          (first === 4 && publicKey.length === 1 + 2 * curve.size) ||
          ((first === 2 || first === 3) && publicKey.length === 1 + curve.size);
        if (!ok) {
          throw new KeypinParseError(
            `EC ${curve.name} public key at byte ${key.start} is ${publicKey.length} bytes, not a point on that curve's size`,
            keyAt,
          );
        }
        return `EC-${curve.name}`;
      }
      return `EC-${curveOid}`;
    }
    case OID.ed25519:
    case OID.ed448:
    case OID.x25519:
    case OID.x448: {
      const [name, size] =
        oid === OID.ed25519
          ? ["Ed25519", 32]
          : oid === OID.ed448
            ? ["Ed448", 57]
            : oid === OID.x25519
              ? ["X25519", 32]
              : ["X448", 56];
      if (params)
        throw new KeypinParseError(`${name} AlgorithmIdentifier must have no parameters`, params.start);
      if (publicKey.length !== size) {
        throw new KeypinParseError(
          `${name} public key is ${publicKey.length} bytes; expected ${size}`,
          keyAt,
        );
      }
      return name as string;
    }
    case OID.dsa:
      return "DSA";
    default:
      return `unknown-${oid}`;
  }
}

function rsaModulusBits(publicKey: Uint8Array, at: number): number {
  const seq = readNode(publicKey, 0, publicKey.length);
  if (seq.tag !== TAG.SEQUENCE || seq.end !== publicKey.length) {
    throw new KeypinParseError(`RSA public key at byte ${at} is not an RSAPublicKey SEQUENCE`, at);
  }
  const parts = childrenOf(publicKey, seq);
  const modulus = parts[0];
  if (parts.length !== 2 || modulus?.tag !== TAG.INTEGER || parts[1]?.tag !== TAG.INTEGER) {
    throw new KeypinParseError(
      `RSA public key at byte ${at} must hold a modulus and an exponent`,
      at + seq.start,
    );
  }
  let i = modulus.valueStart;
  while (i < modulus.end && publicKey[i] === 0) i++;
  if (i === modulus.end)
    throw new KeypinParseError(`RSA modulus at byte ${at + modulus.start} is zero`, at + modulus.start);
  const lead = publicKey[i]!;
  return (modulus.end - i - 1) * 8 + (32 - Math.clz32(lead));
}

/** Wraps a PKCS#1 RSAPublicKey into an SPKI. */
export function rsaPublicKeyToSpki(pkcs1: Uint8Array): Uint8Array {
  const node = expectNode(pkcs1, 0, pkcs1.length, TAG.SEQUENCE, "an RSAPublicKey");
  if (node.end !== pkcs1.length)
    throw new KeypinParseError("unexpected bytes after the RSA public key", node.end);
  const algorithm = Uint8Array.of(
    0x30,
    0x0d,
    0x06,
    0x09,
    0x2a,
    0x86,
    0x48,
    0x86,
    0xf7,
    0x0d,
    0x01,
    0x01,
    0x01,
    0x05,
    0x00,
  );
  const bits = new Uint8Array(pkcs1.length + 1);
  bits.set(pkcs1, 1);
  const bitString = encodeNode(TAG.BIT_STRING, bits);
  const body = new Uint8Array(algorithm.length + bitString.length);
  body.set(algorithm, 0);
  body.set(bitString, algorithm.length);
  return encodeNode(TAG.SEQUENCE, body);
}
