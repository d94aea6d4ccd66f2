// The fast path from a certificate to its pin: walk the DER to the SubjectPublicKeyInfo and hash it,
// without decoding names, dates or extensions. Pinning runs on every new connection, and a full
// `parseCertificate` costs ten times the SHA-256 that the pin needs.

import { expectNode, TAG } from "./der.js";
import { KeypinParseError } from "./errors.js";
import { computePin } from "./pin.js";
import type { Pin, Sha256 } from "./types.js";

const VERSION_TAG = 0xa0; // [0] EXPLICIT Version

/**
 * Where the element at `p` ends, given that it must carry `tag`. The short and one- or two-byte length
 * forms, the only ones a certificate's fields up to its key use, are read here without allocating;
 * anything else (and anything wrong) goes through `expectNode`, which accepts or explains it exactly as
 * the full parser does.
 */
function endOf(der: Uint8Array, p: number, limit: number, tag: number, what: string): number {
  if (p + 1 < limit && der[p] === tag) {
    const first = der[p + 1]!;
    let end = -1;
    if (first < 0x80) end = p + 2 + first;
    else if (first === 0x81 && p + 2 < limit && der[p + 2]! >= 0x80) end = p + 3 + der[p + 2]!;
    else if (first === 0x82 && p + 3 < limit && der[p + 2]! !== 0)
      end = p + 4 + der[p + 2]! * 256 + der[p + 3]!;
    if (end !== -1 && end <= limit) return end;
  }
  return expectNode(der, p, limit, tag, what).end;
}

/** Where the value of a constructed element already checked by `endOf` starts. */
function valueStartOf(der: Uint8Array, p: number): number {
  const first = der[p + 1]!;
  return p + 2 + (first < 0x80 ? 0 : first & 0x7f);
}

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
  const certEnd = endOf(der, 0, der.length, TAG.SEQUENCE, "a certificate");
  if (certEnd !== der.length) {
    throw new KeypinParseError(`${der.length - certEnd} unexpected bytes after the certificate`, certEnd);
  }
  const tbsStart = valueStartOf(der, 0);
  const tbsEnd = endOf(der, tbsStart, certEnd, TAG.SEQUENCE, "the tbsCertificate");
  let p = valueStartOf(der, tbsStart);
  if (p < tbsEnd && der[p] === VERSION_TAG) p = endOf(der, p, tbsEnd, VERSION_TAG, "the version");
  p = endOf(der, p, tbsEnd, TAG.INTEGER, "the serial number");
  p = endOf(der, p, tbsEnd, TAG.SEQUENCE, "the signature algorithm");
  p = endOf(der, p, tbsEnd, TAG.SEQUENCE, "the issuer name");
  p = endOf(der, p, tbsEnd, TAG.SEQUENCE, "the validity");
  p = endOf(der, p, tbsEnd, TAG.SEQUENCE, "the subject name");
  const spkiStart = p;
  const spkiEnd = endOf(der, p, tbsEnd, TAG.SEQUENCE, "the SubjectPublicKeyInfo");
  const algorithmEnd = endOf(der, valueStartOf(der, spkiStart), spkiEnd, TAG.SEQUENCE, "the key algorithm");
  const keyEnd = endOf(der, algorithmEnd, spkiEnd, TAG.BIT_STRING, "the public key BIT STRING");
  if (keyEnd !== spkiEnd) {
    throw new KeypinParseError(`unexpected bytes after the public key at byte ${keyEnd}`, keyEnd);
  }
  // A plain Uint8Array view even when `der` is a Node Buffer, whose own subarray() is slower.
  return new Uint8Array(der.buffer, der.byteOffset + spkiStart, spkiEnd - spkiStart);
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
