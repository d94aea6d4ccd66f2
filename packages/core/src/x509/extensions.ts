// Certificate extensions: what the hostname and path rules read (RFC 5280 §4.2), as OpenSSL reads them.
// An extension that is repeated or cannot be read makes the certificate unusable on a path (OpenSSL marks it
// EXFLAG_INVALID), but never makes the certificate unreadable: pins and names are still shown.

import { decodeLatin1, encodeHex } from "../bytes.js";
import { childrenOf, type DerNode, readNode, readOid, TAG, valueBytes } from "../der.js";
import { KeypinError } from "../errors.js";
import { formatIpv6 } from "../ip.js";
import { canonicalName } from "./name.js";

const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  policyConstraints: "2.5.29.36",
  extKeyUsage: "2.5.29.37",
} as const;

/**
 * Extensions a certificate may mark critical and still be on a path keypin accepts. Each is one OpenSSL handles
 * too (its `X509_supported_extension` list is longer), so keypin never accepts a critical extension OpenSSL would
 * refuse. policyConstraints is left out on purpose: keypin does not evaluate certificate policies.
 */
export const UNDERSTOOD_CRITICAL_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.keyUsage,
  OID.subjectAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.crlDistributionPoints,
  OID.certificatePolicies,
  OID.extKeyUsage,
]);

/** The keyUsage bits of RFC 5280 §4.2.1.3, bit 0 first. */
export const KEY_USAGE_BITS = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;
export type KeyUsage = (typeof KEY_USAGE_BITS)[number];

/** One name subtree of a nameConstraints extension that keypin evaluates, or the kind of one it does not. */
export type NameSubtree =
  | { kind: "dns"; base: string }
  | { kind: "ip"; address: Uint8Array; mask: Uint8Array }
  | { kind: "other"; tag: number };

/**
 * What the path rules read from a certificate's extensions. Absent fields are absent extensions.
 *
 * @example
 * ```ts
 * const { constraints } = parseCertificate(der);
 * if (constraints.basicConstraints?.ca && constraints.keyUsage?.includes("keyCertSign")) console.log("may issue");
 * ```
 */
export interface CertificateConstraints {
  /** The X.509 version: 1, 2 or 3. */
  version: number;
  /** basicConstraints: the cA flag and pathLenConstraint. */
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** keyUsage: the bits that are set. */
  keyUsage?: KeyUsage[];
  /** extendedKeyUsage: the purposes (OIDs), e.g. 1.3.6.1.5.5.7.3.1 for a TLS server. */
  extKeyUsage?: string[];
  /** nameConstraints: permitted and excluded subtrees. */
  nameConstraints?: { permitted: NameSubtree[]; excluded: NameSubtree[] };
  /** subjectKeyIdentifier, lowercase hex. */
  subjectKeyId?: string;
  /** authorityKeyIdentifier's keyIdentifier, lowercase hex. */
  authorityKeyId?: string;
  /** authorityKeyIdentifier names the issuer by issuer name and serial number instead of (or beside) a key id. */
  authorityCertIssuer?: boolean;
  /** authorityKeyIdentifier's authorityCertSerialNumber: the issuer's serial, uppercase hex as `serialNumber`. */
  authorityCertSerial?: string;
  /**
   * authorityKeyIdentifier's first directoryName in authorityCertIssuer, in canonical form (as `names`): the
   * issuer's own issuer name. OpenSSL compares it (X509_check_akid), and so does keypin's path search.
   */
  authorityCertIssuerName?: string;
  /** Every extension marked critical (OIDs). */
  critical: string[];
  /** Every extension present (OIDs), for showing what a certificate carries. */
  present: string[];
  /** The IP address SANs as bytes, including malformed ones (not 4 or 16 bytes) that `subjectAltNames.ip` skips. */
  ipAddressBytes: Uint8Array[];
  /**
   * Why the certificate cannot be on a path: a repeated or unreadable extension, a pathLenConstraint without
   * cA (OpenSSL treats each as an invalid certificate). Empty when nothing is wrong.
   */
  problems: string[];
  /**
   * A validity time in a form OpenSSL reads but its verifier cannot compare (anything but `YYMMDDHHMMSSZ` /
   * `YYYYMMDDHHMMSSZ`): OpenSSL fails such a certificate with a format error, so it cannot be on a path.
   */
  invalidTime?: string;
}

/** The SANs and CA flag every certificate shows, and the constraints, read in one pass over the extensions. */
export interface ExtensionFacts {
  isCA: boolean;
  subjectAltNames: { dns: string[]; ip: string[] };
  constraints: CertificateConstraints;
}

/** The extensions {@link readExtensions} decodes; the content of any other is not read. */
const READ_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.nameConstraints,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
]);

/** A reading failure inside one extension: caught per extension and recorded as a problem. */
class ExtensionError extends KeypinError {
  constructor(message: string) {
    super("ERR_KEYPIN_PARSE", message);
  }
}

function fail(message: string): never {
  throw new ExtensionError(message);
}

/** Reads the extension list (the SEQUENCE inside tbsCertificate's [3]). */
export function readExtensions(
  der: Uint8Array,
  extensions: DerNode[] | undefined,
  version: number,
): ExtensionFacts {
  const san = { dns: [] as string[], ip: [] as string[] };
  const constraints: CertificateConstraints = {
    version,
    critical: [],
    present: [],
    ipAddressBytes: [],
    problems: [],
  };
  const facts: ExtensionFacts = { isCA: false, subjectAltNames: san, constraints };
  for (const ext of extensions ?? []) {
    let oid = "";
    try {
      const parts = ext.tag === TAG.SEQUENCE ? childrenOf(der, ext) : [];
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (parts.length < 2 || parts.length > 3 || id?.tag !== TAG.OID || value?.tag !== TAG.OCTET_STRING) {
        fail(`malformed extension at byte ${ext.start}`);
      }
      oid = readOid(der, id);
      if (constraints.present.includes(oid)) {
        constraints.problems.push(`extension ${oid} appears twice`);
        continue;
      }
      constraints.present.push(oid);
      if (parts.length === 3) {
        const flag = parts[1]!;
        if (flag.tag !== TAG.BOOLEAN || flag.end - flag.valueStart !== 1)
          fail(`malformed critical flag at byte ${flag.start}`);
        if (der[flag.valueStart] !== 0) constraints.critical.push(oid);
      }
      // OpenSSL decodes only the extensions it knows and ignores the content of the others (unless critical: the
      // path rules refuse those); it reads the first value in extnValue and ignores bytes after it (X509V3_EXT_d2i).
      if (!READ_EXTENSIONS.has(oid)) continue;
      readOne(der, oid, readNode(der, value.valueStart, value.end), facts);
    } catch (error) {
      if (!(error instanceof KeypinError)) throw error;
      constraints.problems.push(
        `extension ${oid || `at byte ${ext.start}`} cannot be read: ${error.message}`,
      );
    }
  }
  const bc = constraints.basicConstraints;
  if (bc && !bc.ca && bc.pathLen !== undefined) constraints.problems.push("pathLenConstraint without cA");
  return facts;
}

function readOne(der: Uint8Array, oid: string, node: DerNode, facts: ExtensionFacts): void {
  const c = facts.constraints;
  switch (oid) {
    case OID.basicConstraints: {
      expectTag(node, TAG.SEQUENCE, "basicConstraints");
      const parts = childrenOf(der, node);
      let i = 0;
      let ca = false;
      if (parts[i]?.tag === TAG.BOOLEAN) ca = readBoolean(der, parts[i++]!);
      const bc: { ca: boolean; pathLen?: number } = { ca };
      if (parts[i]?.tag === TAG.INTEGER)
        bc.pathLen = readSmallUnsigned(der, parts[i++]!, "pathLenConstraint");
      if (i !== parts.length) fail("unexpected field in basicConstraints");
      c.basicConstraints = bc;
      facts.isCA = ca;
      return;
    }
    case OID.keyUsage: {
      expectTag(node, TAG.BIT_STRING, "keyUsage");
      const v = valueBytes(der, node);
      if (v.length < 1 || v[0]! > 7 || (v.length === 1 && v[0] !== 0)) fail("malformed keyUsage BIT STRING");
      const bits: KeyUsage[] = [];
      // The last byte's `v[0]` low bits are padding, not flags: OpenSSL (c2i_ASN1_BIT_STRING) clears them, so a
      // keyCertSign set only in the padding is no keyCertSign.
      const valid = (v.length - 1) * 8 - v[0]!;
      KEY_USAGE_BITS.forEach((name, bit) => {
        const byte = v[1 + (bit >> 3)];
        if (bit < valid && byte !== undefined && byte & (0x80 >> (bit & 7))) bits.push(name);
      });
      c.keyUsage = bits;
      return;
    }
    case OID.extKeyUsage: {
      expectTag(node, TAG.SEQUENCE, "extKeyUsage");
      c.extKeyUsage = childrenOf(der, node).map((purpose) => readOid(der, purpose));
      return;
    }
    case OID.subjectAltName: {
      expectTag(node, TAG.SEQUENCE, "subjectAltName");
      for (const name of childrenOf(der, node)) {
        const v = valueBytes(der, name);
        if (name.tag === 0x82) facts.subjectAltNames.dns.push(decodeLatin1(v));
        else if (name.tag === 0x87) {
          c.ipAddressBytes.push(new Uint8Array(v));
          // OpenSSL accepts an iPAddress of another length in a SAN; it names no address, so it is not listed.
          if (v.length === 4) facts.subjectAltNames.ip.push(Array.from(v).join("."));
          else if (v.length === 16) facts.subjectAltNames.ip.push(formatIpv6(v));
        }
      }
      return;
    }
    case OID.nameConstraints: {
      expectTag(node, TAG.SEQUENCE, "nameConstraints");
      const out = { permitted: [] as NameSubtree[], excluded: [] as NameSubtree[] };
      for (const part of childrenOf(der, node)) {
        if (part.tag !== 0xa0 && part.tag !== 0xa1) fail("unexpected field in nameConstraints");
        const list = part.tag === 0xa0 ? out.permitted : out.excluded;
        for (const subtree of childrenOf(der, part)) {
          expectTag(subtree, TAG.SEQUENCE, "GeneralSubtree");
          const [base, ...rest] = childrenOf(der, subtree);
          if (!base) fail("empty GeneralSubtree");
          // minimum and maximum must be absent (RFC 5280); OpenSSL refuses them too.
          if (rest.length > 0) fail("GeneralSubtree with minimum or maximum");
          list.push(readSubtree(der, base));
        }
      }
      c.nameConstraints = out;
      return;
    }
    case OID.subjectKeyIdentifier: {
      expectTag(node, TAG.OCTET_STRING, "subjectKeyIdentifier");
      c.subjectKeyId = encodeHex(valueBytes(der, node));
      return;
    }
    case OID.authorityKeyIdentifier: {
      expectTag(node, TAG.SEQUENCE, "authorityKeyIdentifier");
      for (const part of childrenOf(der, node)) {
        if (part.tag === 0x80) c.authorityKeyId = encodeHex(valueBytes(der, part));
        else if (part.tag === 0x82) {
          c.authorityCertIssuer = true;
          let v = valueBytes(der, part);
          // A negative INTEGER (top bit set) is no positive serial with the same octets: -1 (FF) is not 255 (00 FF).
          const negative = v.length > 0 && (v[0]! & 0x80) !== 0;
          while (v.length > 1 && v[0] === 0) v = v.subarray(1);
          c.authorityCertSerial = `${negative ? "-" : ""}${encodeHex(v).toUpperCase()}`;
        } else if (part.tag === 0xa1) {
          c.authorityCertIssuer = true;
          const directory = childrenOf(der, part).find((name) => name.tag === 0xa4);
          const [name] = directory ? childrenOf(der, directory) : [];
          if (name) c.authorityCertIssuerName = canonicalName(der, name);
        } else fail("unexpected field in authorityKeyIdentifier");
      }
      return;
    }
    default:
      return;
  }
}

function readSubtree(der: Uint8Array, base: DerNode): NameSubtree {
  const v = valueBytes(der, base);
  if (base.tag === 0x82) return { kind: "dns", base: decodeLatin1(v) };
  if (base.tag === 0x87) {
    if (v.length !== 8 && v.length !== 32) fail(`iPAddress subtree of ${v.length} bytes`);
    const half = v.length / 2;
    return {
      kind: "ip",
      address: new Uint8Array(v.subarray(0, half)),
      mask: new Uint8Array(v.subarray(half)),
    };
  }
  return { kind: "other", tag: base.tag };
}

function expectTag(node: DerNode, tag: number, what: string): void {
  if (node.tag !== tag) fail(`${what} has the wrong type`);
}

function readBoolean(der: Uint8Array, node: DerNode): boolean {
  if (node.end - node.valueStart !== 1) fail(`malformed BOOLEAN at byte ${node.start}`);
  return der[node.valueStart] !== 0;
}

function readSmallUnsigned(der: Uint8Array, node: DerNode, what: string): number {
  const v = valueBytes(der, node);
  if (v.length === 0 || v[0]! & 0x80) fail(`${what} is negative or empty`);
  let n = 0;
  for (const b of v) {
    n = n * 256 + b;
    if (n > 0xffff_ffff) fail(`${what} is too large`);
  }
  return n;
}
