// X.509 certificates: the SPKI exactly as encoded, plus the fields keypin shows and the path rules need.

import { BoundedCache } from "../bounded-cache.js";
import { decodeLatin1, encodeHex } from "../bytes.js";
import {
  childrenOf,
  type DerNode,
  encodingOf,
  expectNode,
  readBitStringBytes,
  readOid,
  TAG,
  tagName,
  valueBytes,
} from "../der.js";
import { KeypinParseError } from "../errors.js";
import { type CertificateConstraints, readExtensions } from "./extensions.js";
import { readNameForms } from "./name.js";
import { keyTypeOf } from "./spki.js";
import { isVerifierTime, readTime } from "./time.js";

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
  /**
   * The whole certificate DER (a copy: it does not share memory with the input). `spki` and `signed`'s bytes are
   * views into this copy.
   */
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
  /** What the path rules read: version, basicConstraints, keyUsage, extendedKeyUsage, name constraints, key ids. */
  constraints: CertificateConstraints;
  /**
   * Subject and issuer in the form OpenSSL compares names in (each string value trimmed, inner white space
   * collapsed, ASCII lowercased): an issuer's `subject` equals its child's `issuer`.
   */
  names: { subject: string; issuer: string };
  /** The signed part and its signature, for a caller that verifies the issuer's signature (core does not). */
  signed: {
    /** The DER tbsCertificate: the bytes the issuer signed. */
    tbs: Uint8Array;
    algorithm: SignatureAlgorithm;
    /** The outer signatureAlgorithm is byte for byte the one inside tbsCertificate (OpenSSL requires it). */
    algorithmsMatch: boolean;
    signature: Uint8Array;
  };
}

/** An AlgorithmIdentifier: `oid` and the DER of its parameters, when present. */
export interface SignatureAlgorithm {
  oid: string;
  parameters?: Uint8Array;
}

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
  let extensionList: DerNode[] | undefined;
  for (; i < tbs.length; i++) {
    const field = tbs[i]!;
    if (field.tag === 0x81 || field.tag === 0x82) continue; // issuer/subject unique IDs
    if (field.tag !== 0xa3 || extensionList)
      throw new KeypinParseError(
        `unexpected ${tagName(field.tag)} in tbsCertificate at byte ${field.start}`,
        field.start,
      );
    const list = childrenOf(der, field);
    extensionList =
      list.length === 1 && list[0]!.tag === TAG.SEQUENCE ? childrenOf(der, list[0]!) : undefined;
    if (!extensionList)
      throw new KeypinParseError(
        `expected the extensions SEQUENCE at byte ${field.valueStart}`,
        field.valueStart,
      );
  }
  const version = readVersion(der, tbs[0]);
  const { isCA, subjectAltNames, constraints } = readExtensions(der, extensionList, version);
  const [notBefore, notAfter] = times as [DerNode, DerNode];
  for (const [field, node] of [
    ["notBefore", notBefore],
    ["notAfter", notAfter],
  ] as const) {
    if (!constraints.invalidTime && !isVerifierTime(der, node))
      constraints.invalidTime = `has a ${field} ${JSON.stringify(decodeLatin1(valueBytes(der, node)).slice(0, 40))} in a form OpenSSL's verifier refuses (it compares only YYMMDDHHMMSSZ and YYYYMMDDHHMMSSZ)`;
  }
  const [, signatureAlgorithm, signatureValue] = outer;
  if (signatureAlgorithm?.tag !== TAG.SEQUENCE)
    throw new KeypinParseError(`expected the signature algorithm at byte ${cert.start}`, cert.start);
  const signatureBits = readBitStringBytes(der, signatureValue!, "the signature");
  const subjectName = nameFormsOf(der, subject);
  const issuerName = nameFormsOf(der, issuer);
  // One copy of the certificate; the SPKI, the signed part, the signature and the algorithm's parameters are views
  // into it (an ArrayBuffer each was a third of the allocations of reading a certificate).
  const copy = new Uint8Array(encodingOf(der, cert));
  const view = (node: DerNode) => copy.subarray(node.start - cert.start, node.end - cert.start);
  return {
    der: copy,
    spki: view(spki),
    subject: subjectName.text,
    issuer: issuerName.text,
    notBefore: readTime(der, notBefore),
    notAfter: readTime(der, notAfter),
    serialNumber: encodeHex(stripSignByte(valueBytes(der, serial))).toUpperCase(),
    subjectAltNames,
    keyType,
    isCA,
    constraints,
    names: { subject: subjectName.canonical, issuer: issuerName.canonical },
    signed: {
      tbs: view(tbsNode),
      algorithm: readAlgorithm(der, signatureAlgorithm, view),
      algorithmsMatch: equalEncodings(encodingOf(der, signatureAlgorithm), encodingOf(der, signature)),
      // readBitStringBytes checked the BIT STRING: its value after the unused-bits octet.
      signature: copy.subarray(copy.length - signatureBits.length),
    },
  };
}

/**
 * Names already read, by their exact DER bytes (as latin1 text). Reading a Name into both its forms was 40% of
 * reading a certificate in V8's interpreter, where a pin check on a new chain runs (reading a new leaf and
 * intermediate right after a connection: 138 µs before, 105 µs with this), and names repeat: an issuer's subject is its children's issuer, and every renewal or CDN
 * edge under a CA repeats the CA's name. The forms depend on the bytes alone, so a name read once is never read
 * again. Bounded in count and in size: a name over 1 KiB is read each time.
 */
const nameForms = new BoundedCache<Readonly<{ text: string; canonical: string }>>(1024);
const MAX_CACHED_NAME = 1024;

function nameFormsOf(der: Uint8Array, name: DerNode): Readonly<{ text: string; canonical: string }> {
  if (name.end - name.start > MAX_CACHED_NAME) return readNameForms(der, name);
  const key = String.fromCharCode.apply(null, der.subarray(name.start, name.end) as unknown as number[]);
  const known = nameForms.get(key);
  if (known) return known;
  const forms = Object.freeze(readNameForms(der, name));
  nameForms.set(key, forms);
  return forms;
}

function stripSignByte(v: Uint8Array): Uint8Array {
  return v.length > 1 && v[0] === 0 ? v.subarray(1) : v;
}

/** The [0] EXPLICIT version (v1 when absent): 1, 2 or 3. */
function readVersion(der: Uint8Array, first: DerNode | undefined): number {
  if (first?.tag !== 0xa0) return 1;
  const [value] = childrenOf(der, first);
  const v = value?.tag === TAG.INTEGER ? valueBytes(der, value) : undefined;
  if (v?.length !== 1 || v[0]! > 2)
    throw new KeypinParseError(`unexpected certificate version at byte ${first.start}`, first.start);
  return v[0]! + 1;
}

/** An AlgorithmIdentifier: the OID and the DER of its parameters, when present. */
function readAlgorithm(
  der: Uint8Array,
  node: DerNode,
  view: (node: DerNode) => Uint8Array,
): SignatureAlgorithm {
  const parts = childrenOf(der, node);
  const [id, params] = parts;
  if (!id || parts.length > 2)
    throw new KeypinParseError(`malformed AlgorithmIdentifier at byte ${node.start}`, node.start);
  const oid = readOid(der, id);
  return params ? { oid, parameters: view(params) } : { oid };
}

function equalEncodings(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
