// Certificates, public keys and CSRs: the SubjectPublicKeyInfo exactly as encoded, plus the certificate
// fields keypin shows (subject, issuer, validity, SANs, key type, CA flag).

import { decodeLatin1, decodeUtf8, encodeHex } from "./bytes.js";
import {
  childrenOf,
  type DerNode,
  encodeNode,
  encodingOf,
  expectNode,
  readBitStringBytes,
  readNode,
  readOid,
  TAG,
  tagName,
  valueBytes,
} from "./der.js";
import { KeypinParseError } from "./errors.js";
import { formatIpv6 } from "./ip.js";
import { decodePem, type PemBlock } from "./pem.js";

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
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
  dsa: "1.2.840.10040.4.1",
  ed25519: "1.3.101.112",
  ed448: "1.3.101.113",
  x25519: "1.3.101.110",
  x448: "1.3.101.111",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
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

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "2.5.4.97": "organizationIdentifier",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress",
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
function keyTypeOf(bytes: Uint8Array, node: DerNode): string {
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

function readCertificate(der: Uint8Array, cert: DerNode): CertificateInfo {
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

function readName(der: Uint8Array, name: DerNode): string {
  if (name.tag !== TAG.SEQUENCE)
    throw new KeypinParseError(`expected a Name (SEQUENCE) at byte ${name.start}`, name.start);
  const rdns: string[] = [];
  for (const rdn of childrenOf(der, name)) {
    if (rdn.tag !== TAG.SET)
      throw new KeypinParseError(
        `expected a RelativeDistinguishedName (SET) at byte ${rdn.start}`,
        rdn.start,
      );
    const parts: string[] = [];
    for (const atv of childrenOf(der, rdn)) {
      const pair = atv.tag === TAG.SEQUENCE ? childrenOf(der, atv) : [];
      if (pair.length !== 2)
        throw new KeypinParseError(`malformed name attribute at byte ${atv.start}`, atv.start);
      const oid = readOid(der, pair[0]!);
      const value = pair[1]!;
      const short = ATTRIBUTE_NAMES[oid];
      const text = decodeDirectoryString(der, value);
      if (short && text !== undefined) parts.push(`${short}=${escapeRdnValue(text)}`);
      else parts.push(`${oid}=#${encodeHex(encodingOf(der, value))}`);
    }
    rdns.push(parts.join("+"));
  }
  return rdns.reverse().join(", ");
}

function decodeDirectoryString(der: Uint8Array, node: DerNode): string | undefined {
  const v = valueBytes(der, node);
  switch (node.tag) {
    case 0x0c: // UTF8String
      return decodeUtf8(v);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x14: // TeletexString (treated as Latin-1, as most software does)
      return decodeLatin1(v);
    case 0x1e: {
      // BMPString: UTF-16BE
      if (v.length % 2 !== 0)
        throw new KeypinParseError(`BMPString at byte ${node.start} has an odd length`, node.start);
      let s = "";
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
      return s;
    }
    case 0x1c: {
      // UniversalString: UTF-32BE
      if (v.length % 4 !== 0)
        throw new KeypinParseError(`UniversalString at byte ${node.start} has a bad length`, node.start);
      let s = "";
      for (let i = 0; i < v.length; i += 4) {
        const cp = ((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0;
        s += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
      }
      return s;
    }
    default:
      return undefined;
  }
}

/** RFC 4514 §2.4 escaping. */
function escapeRdnValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if (',+"\\<>;'.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === " " || c === "#")) || (i === value.length - 1 && c === " ")) out += `\\${c}`;
    else out += c;
  }
  return out;
}

function readTime(der: Uint8Array, node: DerNode): Date {
  const text = decodeLatin1(valueBytes(der, node));
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text);
    if (m) {
      const yy = Number(m[1]);
      year = yy >= 50 ? 1900 + yy : 2000 + yy;
    } else year = 0;
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/.exec(text);
    year = m ? Number(m[1]) : 0;
  } else {
    throw new KeypinParseError(
      `expected a UTCTime or GeneralizedTime at byte ${node.start}, found ${tagName(node.tag)}`,
      node.start,
    );
  }
  if (!m)
    throw new KeypinParseError(
      `malformed time ${JSON.stringify(text.slice(0, 40))} at byte ${node.start}`,
      node.start,
    );
  const [mo, d, h, mi, s] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  if (
    mo < 1 ||
    mo > 12 ||
    date.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59 ||
    Number.isNaN(date.getTime())
  ) {
    throw new KeypinParseError(
      `time ${JSON.stringify(text)} at byte ${node.start} is not a real date`,
      node.start,
    );
  }
  if (year < 100) date.setUTCFullYear(year);
  return date;
}

/**
 * One thing found by {@link readKeyMaterial}. `index` is its position among the blocks of the input
 * (0 for DER). Private keys are reported but not opened: deriving their public half needs curve maths,
 * which `@keypin/node` does with node:crypto.
 *
 * @example
 * ```ts
 * for (const m of readKeyMaterial(text)) if (m.kind !== "private-key") console.log(m.keyType);
 * ```
 */
export type KeyMaterial =
  | { kind: "certificate"; index: number; spki: Uint8Array; keyType: string; certificate: CertificateInfo }
  | { kind: "public-key"; index: number; spki: Uint8Array; keyType: string }
  | { kind: "csr"; index: number; spki: Uint8Array; keyType: string; subject: string }
  | {
      kind: "private-key";
      index: number;
      /** The block's bytes: PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1 DER; with `pem.headers`, ciphertext. */
      der: Uint8Array;
      encrypted: boolean;
      /**
       * Read from PEM: its label and RFC 1421 headers. OpenSSL's legacy encryption ("Proc-Type: 4,ENCRYPTED")
       * keeps its cipher in the headers, so such a key is only readable again as
       * `encodePem(der, pem.label, pem.headers)`.
       */
      pem?: { label: string; headers?: Record<string, string> };
    };

const IGNORED_LABELS = new Set(["EC PARAMETERS", "DH PARAMETERS", "X509 CRL", "PARAMETERS"]);

/**
 * Reads certificates, public keys, CSRs and private keys from PEM text (one block or a bundle) or DER
 * bytes (the kind is detected from the structure). Bytes that are PEM text are read as PEM.
 * Throws {@link KeypinParseError} (with the offset) on malformed input or when nothing is found.
 *
 * @example
 * ```ts
 * const pins = readKeyMaterial(readFileSync("fullchain.pem", "utf8"))
 *   .flatMap((m) => (m.kind === "private-key" ? [] : [computePin(m.spki, sha256)]));
 * ```
 */
export function readKeyMaterial(input: string | Uint8Array): KeyMaterial[] {
  if (typeof input !== "string") {
    if (looksLikePem(input)) return readKeyMaterial(decodeLatin1(input));
    return [readDer(input, 0)];
  }
  const blocks = decodePem(input);
  if (blocks.length === 0) {
    throw new KeypinParseError(
      "no PEM block found (expected -----BEGIN CERTIFICATE-----, PUBLIC KEY, CERTIFICATE REQUEST or PRIVATE KEY)",
      0,
    );
  }
  const out: KeyMaterial[] = [];
  blocks.forEach((block, index) => {
    const m = readBlock(block, index);
    if (m) out.push(m);
  });
  if (out.length === 0) {
    throw new KeypinParseError(
      `no certificate, public key, CSR or private key among the PEM blocks (${blocks.map((b) => b.label).join(", ")})`,
      0,
    );
  }
  return out;
}

function looksLikePem(bytes: Uint8Array): boolean {
  const marker = [45, 45, 45, 45, 45, 66, 69, 71, 73, 78, 32]; // "-----BEGIN "
  const limit = Math.min(bytes.length - marker.length, 64 * 1024);
  outer: for (let i = 0; i <= limit; i++) {
    for (let j = 0; j < marker.length; j++) if (bytes[i + j] !== marker[j]) continue outer;
    return true;
  }
  return false;
}

function readBlock(block: PemBlock, index: number): KeyMaterial | undefined {
  const { label, der, line } = block;
  try {
    switch (label) {
      case "CERTIFICATE":
      case "X509 CERTIFICATE":
      case "TRUSTED CERTIFICATE": {
        // openssl's TRUSTED CERTIFICATE appends trust settings after the certificate.
        const node = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate");
        if (label !== "TRUSTED CERTIFICATE" && node.end !== der.length) {
          throw new KeypinParseError(
            `${der.length - node.end} unexpected bytes after the certificate`,
            node.end,
          );
        }
        const certificate = readCertificate(der, node);
        return {
          kind: "certificate",
          index,
          spki: certificate.spki,
          keyType: certificate.keyType,
          certificate,
        };
      }
      case "PUBLIC KEY": {
        const { spki, keyType } = parseSpki(der);
        return { kind: "public-key", index, spki, keyType };
      }
      case "RSA PUBLIC KEY": {
        const spki = rsaPublicKeyToSpki(der);
        return { kind: "public-key", index, spki, keyType: parseSpki(spki).keyType };
      }
      case "CERTIFICATE REQUEST":
      case "NEW CERTIFICATE REQUEST":
        return readCsr(der, index);
      case "PRIVATE KEY":
      case "RSA PRIVATE KEY":
      case "EC PRIVATE KEY":
      case "DSA PRIVATE KEY":
      case "ENCRYPTED PRIVATE KEY": {
        const encrypted =
          label === "ENCRYPTED PRIVATE KEY" || /ENCRYPTED/i.test(block.headers?.["Proc-Type"] ?? "");
        const pem = block.headers ? { label, headers: block.headers } : { label };
        return { kind: "private-key", index, der, encrypted, pem };
      }
      case "OPENSSH PRIVATE KEY":
        throw new KeypinParseError(
          `PEM block at line ${line} is an OpenSSH private key, which keypin does not read; use its certificate or public key, or convert it with: ssh-keygen -p -m PKCS8 -f <file>`,
          0,
        );
      default:
        if (IGNORED_LABELS.has(label)) return undefined;
        throw new KeypinParseError(
          `PEM block "${label}" at line ${line} is not a certificate, public key, CSR or private key`,
          0,
        );
    }
  } catch (e) {
    if (e instanceof KeypinParseError) {
      throw new KeypinParseError(
        `PEM block ${index + 1} ("${label}", line ${line}): ${e.message}`,
        e.offset,
        { cause: e },
      );
    }
    throw e;
  }
}

function readCsr(der: Uint8Array, index: number): KeyMaterial {
  const csr = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate request");
  if (csr.end !== der.length)
    throw new KeypinParseError(`${der.length - csr.end} unexpected bytes after the CSR`, csr.end);
  const outer = childrenOf(der, csr);
  const info = outer[0];
  if (outer.length !== 3 || info?.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `a CSR is a SEQUENCE of certificationRequestInfo, algorithm and signature (byte ${csr.start})`,
      csr.start,
    );
  }
  const parts = childrenOf(der, info);
  const [version, subject, spki] = parts;
  if (version?.tag !== TAG.INTEGER || !subject || !spki) {
    throw new KeypinParseError(
      `certificationRequestInfo at byte ${info.start} is missing fields`,
      info.start,
    );
  }
  const keyType = keyTypeOf(der, spki);
  return {
    kind: "csr",
    index,
    spki: new Uint8Array(encodingOf(der, spki)),
    keyType,
    subject: readName(der, subject),
  };
}

function rsaPublicKeyToSpki(pkcs1: Uint8Array): Uint8Array {
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

function readDer(der: Uint8Array, index: number): KeyMaterial {
  const top = readNode(der, 0, der.length);
  if (top.tag !== TAG.SEQUENCE) {
    throw new KeypinParseError(
      `expected DER starting with a SEQUENCE, found ${tagName(top.tag)} (is this PEM or another format?)`,
      0,
    );
  }
  if (top.end !== der.length)
    throw new KeypinParseError(`${der.length - top.end} unexpected bytes after the DER structure`, top.end);
  const parts = childrenOf(der, top);
  const [a, b, c] = parts;
  if (parts.length === 2 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.BIT_STRING) {
    const { spki, keyType } = parseSpki(der);
    return { kind: "public-key", index, spki, keyType };
  }
  if (parts.length === 3 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.SEQUENCE && c?.tag === TAG.BIT_STRING) {
    const inner = childrenOf(der, a);
    const isCsr = inner.length === 4 && inner[0]?.tag === TAG.INTEGER && inner[3]?.tag === 0xa0;
    if (isCsr) return readCsr(der, index);
    const certificate = readCertificate(der, top);
    return { kind: "certificate", index, spki: certificate.spki, keyType: certificate.keyType, certificate };
  }
  if (parts.length === 2 && a?.tag === TAG.SEQUENCE && b?.tag === TAG.OCTET_STRING) {
    return { kind: "private-key", index, der, encrypted: true };
  }
  if (a?.tag === TAG.INTEGER && parts.length >= 3) {
    return { kind: "private-key", index, der, encrypted: false };
  }
  if (parts.length === 2 && a?.tag === TAG.INTEGER && b?.tag === TAG.INTEGER) {
    const spki = rsaPublicKeyToSpki(der);
    return { kind: "public-key", index, spki, keyType: parseSpki(spki).keyType };
  }
  throw new KeypinParseError("DER is not a certificate, SubjectPublicKeyInfo, CSR or private key", 0);
}
