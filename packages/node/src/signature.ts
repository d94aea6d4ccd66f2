import { constants as cryptoConstants, type KeyObject, verify, X509Certificate } from "node:crypto";
import { type PathCertificate, publicKeyEntryOfCertificate, publicKeyOf } from "./parsed-certificate.js";

/** Signature algorithms verified directly over tbsCertificate: the digest node:crypto takes, and the key family. */
const ALGORITHMS: Record<string, { digest: string | null; family: "rsa" | "ec" | "ed25519" | "ed448" }> = {
  "1.2.840.113549.1.1.5": { digest: "sha1", family: "rsa" },
  "1.2.840.113549.1.1.14": { digest: "sha224", family: "rsa" },
  "1.2.840.113549.1.1.11": { digest: "sha256", family: "rsa" },
  "1.2.840.113549.1.1.12": { digest: "sha384", family: "rsa" },
  "1.2.840.113549.1.1.13": { digest: "sha512", family: "rsa" },
  "1.2.840.10045.4.1": { digest: "sha1", family: "ec" },
  "1.2.840.10045.4.3.1": { digest: "sha224", family: "ec" },
  "1.2.840.10045.4.3.2": { digest: "sha256", family: "ec" },
  "1.2.840.10045.4.3.3": { digest: "sha384", family: "ec" },
  "1.2.840.10045.4.3.4": { digest: "sha512", family: "ec" },
  "1.3.101.112": { digest: null, family: "ed25519" },
  "1.3.101.113": { digest: null, family: "ed448" },
};
/** RSASSA-PSS: its parameters name the digest; node:crypto's X509Certificate reads them. */
const RSA_PSS = "1.2.840.113549.1.1.10";
/** Largest RSA public exponent keypin verifies with: 64 bits, OpenSSL's limit for large moduli. */
const MAX_EXPONENT_BITS = 64;

/**
 * What one verification costs with each EC curve and EdDSA key, in the unit below, measured with Node 20's OpenSSL 3.0
 * (one node:crypto verify, x86-64): P-256 98 µs, P-384 710 µs, P-521 1.44 ms, Ed25519 128 µs, Ed448 271 µs, against
 * 33 µs for RSA-2048. Curves without a fast implementation, measured the same way on 2026-12-02 (RSA-2048 22 µs that
 * run): brainpoolP256r1 325 µs, brainpoolP320r1 482 µs, brainpoolP384r1 677 µs, brainpoolP512r1 907 µs, secp256k1
 * 328 µs. Any other curve counts as far slower than the chain budget allows (sect571k1 took 3.1 ms): refused. Without
 * the brainpool rows every brainpool chain hit that bound and could never be pinned (review).
 */
const CURVE_COST: Record<string, number> = {
  prime256v1: 3,
  secp384r1: 21,
  secp521r1: 43,
  secp256k1: 15,
  brainpoolP256r1: 15,
  brainpoolP320r1: 22,
  brainpoolP384r1: 31,
  brainpoolP512r1: 41,
};
const EDDSA_COST: Record<string, number> = { ed25519: 4, ed448: 8 };
const OTHER_CURVE_COST = 100;

/**
 * What verifying one signature made with `issuer`'s key costs, in units of one RSA-2048 (e = 65537) verification:
 * RSA grows with the square of the modulus and with the exponent's length; EC and EdDSA keys cost what they were
 * measured to (CURVE_COST). Infinity for a key keypin refuses to verify with (an RSA exponent over 64 bits).
 */
export function verificationCost(issuer: PathCertificate): number {
  const entry = publicKeyEntryOfCertificate(issuer);
  if (entry.cost === undefined) entry.cost = costOf(entry.key);
  return entry.cost;
}

function costOf(key: KeyObject | null): number {
  const details = key?.asymmetricKeyDetails;
  const type = key?.asymmetricKeyType;
  if (type === "ec") return CURVE_COST[details?.namedCurve ?? ""] ?? OTHER_CURVE_COST;
  if (type && EDDSA_COST[type] !== undefined) return EDDSA_COST[type];
  if (!details?.modulusLength) return 1;
  const exponentBits = details.publicExponent === undefined ? 17 : details.publicExponent.toString(2).length;
  if (exponentBits > MAX_EXPONENT_BITS) return Number.POSITIVE_INFINITY;
  return Math.max(1, (details.modulusLength / 2048) ** 2) * Math.max(1, exponentBits / 17);
}

/**
 * True when `issuer`'s key signed `child`: the signature over the child's tbsCertificate, with the algorithm the
 * child names, which must be the same inside and outside tbsCertificate. MD5, MD2 and DSA signatures prove nothing
 * here. Never throws.
 */
export function verifySignature(child: PathCertificate, issuer: PathCertificate): boolean {
  const { signed } = child.info;
  if (!signed.algorithmsMatch) return false;
  const key = publicKeyOf(issuer);
  if (!key) return false;
  try {
    if (signed.algorithm.oid === RSA_PSS) {
      return new X509Certificate(child.der).verify(key);
    }
    const algorithm = ALGORITHMS[signed.algorithm.oid];
    if (!algorithm) return false;
    const params = signed.algorithm.parameters;
    const nullParams = params?.length === 2 && params[0] === 0x05 && params[1] === 0x00;
    if (params && !(algorithm.family === "rsa" && nullParams)) return false;
    const type = key.asymmetricKeyType;
    if (algorithm.family !== type) return false;
    if (type === "rsa")
      return verify(
        algorithm.digest,
        signed.tbs,
        { key, padding: cryptoConstants.RSA_PKCS1_PADDING },
        signed.signature,
      );
    if (type === "ec")
      return verify(algorithm.digest, signed.tbs, { key, dsaEncoding: "der" }, signed.signature);
    return verify(null, signed.tbs, key, signed.signature);
  } catch {
    return false; // a key or signature node:crypto cannot use proves nothing
  }
}
