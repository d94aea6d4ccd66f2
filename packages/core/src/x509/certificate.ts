// X.509 certificates: the SPKI exactly as encoded, plus the fields keypin shows and the path rules need.

import { decodeLatin1, encodeHex } from "../bytes.js";
import {
  childrenOf,
  type DerNode,
  encodingOf,
  expectNode,
  readOid,
  TAG,
  tagName,
  valueBytes,
} from "../der.js";
import { KeypinParseError } from "../errors.js";
import { formatIpv6 } from "../ip.js";
import { readName } from "./name.js";
import { keyTypeOf } from "./spki.js";
import { readTime } from "./time.js";

/**
 * What {@link parseCertificate} reads from an X.509 certificate.
 *
 * @example
 * ```ts
 * const info: CertificateInfo = parseCertificate(der);
 * console.log(info.subject, info.keyType, info.notAfter.toISOString());
 * ```
 */
export interface CertificateInfo {
  /** The whole certificate DER (a copy: it does not share memory with the input). */
  der: Uint8Array;
  /** The DER SubjectPublicKeyInfo exactly as encoded in the certificate: the bytes a pin hashes. */
  spki: Uint8Array;
  /** RFC 4514-style, most specific attribute first: `CN=api.myapp.com, O=My App`. */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** Uppercase hex, as openssl and Node print it. */
  serialNumber: string;
  subjectAltNames: { dns: string[]; ip: string[] };
  /** `RSA-2048`, `EC-P256`, `EC-P384`, `EC-P521`, `Ed25519`, `Ed448`, … */
  keyType: string;
  /** The basicConstraints cA flag (false when the extension is absent). */
  isCA: boolean;
}

const OID = {
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
} as const;

/**
 * Reads an X.509 certificate (DER). Throws {@link KeypinParseError} with the byte offset when malformed.
 * It does not verify signatures: only a chain verified elsewhere (e.g. by `@keypin/node`) may be pinned.
 *
 * @example
 * ```ts
 * const [block] = decodePem(pemText);
 * const info = parseCertificate(block!.der);
 * console.log(info.subject, info.subjectAltNames.dns, computePin(info.spki, sha256));
 * ```
 */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  const cert = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate");
  if (cert.end !== der.length) {
    throw new KeypinParseError(`${der.length - cert.end} unexpected bytes after the certificate`, cert.end);
  }
  return readCertificate(der, cert);
}

export function readCertificate(der: Uint8Array, cert: DerNode): CertificateInfo {
  const outer = childrenOf(der, cert);
  const tbsNode = outer[0];
  if (outer.length !== 3 || tbsNode?.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `a certificate is a SEQUENCE of tbsCertificate, signatureAlgorithm and signature; found ${outer.length} parts at byte ${cert.start}`,
      cert.start,
    );
  }
  const tbs = childrenOf(der, tbsNode);
  let i = 0;
  if (tbs[0]?.tag === 0xa0) i++; // [0] EXPLICIT version
  const serial = tbs[i++];
  const signature = tbs[i++];
  const issuer = tbs[i++];
  const validity = tbs[i++];
  const subject = tbs[i++];
  const spki = tbs[i++];
  if (!serial || !signature || !issuer || !validity || !subject || !spki) {
    throw new KeypinParseError(`tbsCertificate at byte ${tbsNode.start} is missing fields`, tbsNode.end);
  }
  if (serial.tag !== TAG.INTEGER)
    throw new KeypinParseError(`expected the serial number (INTEGER) at byte ${serial.start}`, serial.start);
  if (signature.tag !== TAG.SEQUENCE)
    throw new KeypinParseError(
      `expected the signature algorithm at byte ${signature.start}`,
      signature.start,
    );
  const times = validity.tag === TAG.SEQUENCE ? childrenOf(der, validity) : [];
  if (times.length !== 2)
    throw new KeypinParseError(`expected the validity (two times) at byte ${validity.start}`, validity.start);
  const keyType = keyTypeOf(der, spki);
  let isCA = false;
  const san = { dns: [] as string[], ip: [] as string[] };
  for (; i < tbs.length; i++) {
    const field = tbs[i]!;
    if (field.tag === 0x81 || field.tag === 0x82) continue; // issuer/subject unique IDs
    if (field.tag !== 0xa3)
      throw new KeypinParseError(
        `unexpected ${tagName(field.tag)} in tbsCertificate at byte ${field.start}`,
        field.start,
      );
    const list = childrenOf(der, field);
    const extensions =
      list.length === 1 && list[0]!.tag === TAG.SEQUENCE ? childrenOf(der, list[0]!) : undefined;
    if (!extensions)
      throw new KeypinParseError(
        `expected the extensions SEQUENCE at byte ${field.valueStart}`,
        field.valueStart,
      );
    for (const ext of extensions) {
      const parts = ext.tag === TAG.SEQUENCE ? childrenOf(der, ext) : [];
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (parts.length < 2 || parts.length > 3 || !id || value?.tag !== TAG.OCTET_STRING) {
        throw new KeypinParseError(`malformed extension at byte ${ext.start}`, ext.start);
      }
      const oid = readOid(der, id);
      if (oid === OID.basicConstraints) isCA = readBasicConstraintsCA(der, value);
      else if (oid === OID.subjectAltName) readSubjectAltNames(der, value, san);
    }
  }
  return {
    der: new Uint8Array(encodingOf(der, cert)),
    spki: new Uint8Array(encodingOf(der, spki)),
    subject: readName(der, subject),
    issuer: readName(der, issuer),
    notBefore: readTime(der, times[0]!),
    notAfter: readTime(der, times[1]!),
    serialNumber: encodeHex(stripSignByte(valueBytes(der, serial))).toUpperCase(),
    subjectAltNames: san,
    keyType,
    isCA,
  };
}

function stripSignByte(v: Uint8Array): Uint8Array {
  return v.length > 1 && v[0] === 0 ? v.subarray(1) : v;
}

function readBasicConstraintsCA(der: Uint8Array, octets: DerNode): boolean {
  const seq = expectNode(der, octets.valueStart, octets.end, TAG.SEQUENCE, "basicConstraints");
  const parts = childrenOf(der, seq);
  const first = parts[0];
  if (first?.tag !== TAG.BOOLEAN) return false;
  if (first.end - first.valueStart !== 1)
    throw new KeypinParseError(`malformed BOOLEAN at byte ${first.start}`, first.start);
  return der[first.valueStart] !== 0;
}

function readSubjectAltNames(der: Uint8Array, octets: DerNode, out: { dns: string[]; ip: string[] }): void {
  const seq = expectNode(der, octets.valueStart, octets.end, TAG.SEQUENCE, "subjectAltName");
  for (const name of childrenOf(der, seq)) {
    const v = valueBytes(der, name);
    if (name.tag === 0x82) out.dns.push(decodeLatin1(v));
    else if (name.tag === 0x87) {
      if (v.length === 4) out.ip.push(Array.from(v).join("."));
      else if (v.length === 16) out.ip.push(formatIpv6(v));
      else
        throw new KeypinParseError(`IP address SAN at byte ${name.start} is ${v.length} bytes`, name.start);
    }
  }
}
