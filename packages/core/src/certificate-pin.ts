// The fast path from a certificate to its pin: walk the DER to the SubjectPublicKeyInfo and hash it,
// without decoding names, dates or extensions. Pinning runs on every new connection, and a full
// `parseCertificate` costs ten times the SHA-256 that the pin needs.

import { expectNode, readNode, TAG } from "./der.js";
import { KeypinParseError } from "./errors.js";
import { computePin } from "./pin.js";
import type { Pin, Sha256 } from "./types.js";

const VERSION_TAG = 0xa0; // [0] EXPLICIT Version

/**
 * The DER SubjectPublicKeyInfo of an X.509 certificate, exactly as encoded (a view into `der`, not a copy).
 * Reads only the structure up to the key: the certificate SEQUENCE (which must fill `der`), tbsCertificate,
 * its optional version, serial number, signature algorithm, issuer, validity and subject, then the SPKI
 * (a SEQUENCE of an algorithm SEQUENCE and a BIT STRING). Throws {@link KeypinParseError} with the byte
 * offset when the structure is not that. It verifies nothing: only a chain verified elsewhere may be pinned.
 *
 * @example
 * ```ts
 * const spki = spkiOfCertificate(der); // the same bytes as parseCertificate(der).spki
 * ```
 */
export function spkiOfCertificate(der: Uint8Array): Uint8Array {
  const cert = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate");
  if (cert.end !== der.length) {
    throw new KeypinParseError(`${der.length - cert.end} unexpected bytes after the certificate`, cert.end);
  }
  const tbs = expectNode(der, cert.valueStart, cert.end, TAG.SEQUENCE, "the tbsCertificate");
  let p = tbs.valueStart;
  const first = readNode(der, p, tbs.end);
  if (first.tag === VERSION_TAG) p = first.end;
  p = expectNode(der, p, tbs.end, TAG.INTEGER, "the serial number").end;
  p = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the signature algorithm").end;
  p = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the issuer name").end;
  p = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the validity").end;
  p = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the subject name").end;
  const spki = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the SubjectPublicKeyInfo");
  const algorithm = expectNode(der, spki.valueStart, spki.end, TAG.SEQUENCE, "the key algorithm");
  const key = expectNode(der, algorithm.end, spki.end, TAG.BIT_STRING, "the public key BIT STRING");
  if (key.end !== spki.end) {
    throw new KeypinParseError(`unexpected bytes after the public key at byte ${key.end}`, key.end);
  }
  return der.subarray(spki.start, spki.end);
}

/**
 * The pin (`sha256/<base64>`) of a certificate's public key, straight from the certificate's DER: what
 * a pinning client computes for each certificate of a verified chain.
 *
 * @example
 * ```ts
 * import { sha256 } from "@noble/hashes/sha2.js";
 * const pin = pinOfCertificate(der, sha256); // equals computePin(parseCertificate(der).spki, sha256)
 * ```
 */
export function pinOfCertificate(der: Uint8Array, sha256: Sha256): Pin {
  return computePin(spkiOfCertificate(der), sha256);
}
