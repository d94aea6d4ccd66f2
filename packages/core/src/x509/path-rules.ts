// The rules a certification path must follow besides its signatures, as OpenSSL applies them to a TLS server's
// chain (x509_vfy.c: check_chain_extensions, check_name_constraints, the time and key-size checks, and the
// "ssl_server" purpose). keypin applies them to the path it builds, so that a path keypin accepts is one OpenSSL
// accepts too. Where OpenSSL has a legacy allowance keypin does not need (a CA without basicConstraints, Netscape
// certificate types, certificate policies), keypin is stricter: it refuses, and so fails closed.

import type { CertificateInfo } from "./certificate.js";
import type { NameSubtree } from "./extensions.js";
import { UNDERSTOOD_CRITICAL_EXTENSIONS } from "./extensions.js";

/** Why a certificate may not stand where it stands on a path. */
export type PathRuleReason =
  | "expired"
  | "invalid-time"
  | "not-yet-valid"
  | "not-a-ca"
  | "no-key-cert-sign"
  | "path-length"
  | "purpose"
  | "name-constraints"
  | "critical-extension"
  | "invalid-extension"
  | "unsupported-extension"
  | "weak-key"
  | "self-signed";

/** A broken rule: which certificate (its position on the path, 0 = leaf), the rule and the details. */
export interface PathRuleViolation {
  index: number;
  reason: PathRuleReason;
  /** One sentence: what is wrong with the certificate, e.g. "expired on 2026-01-01T00:00:00.000Z". */
  detail: string;
}

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
/** proxyCertInfo (RFC 3820): proxy certificates follow other issuing rules; OpenSSL refuses them by default. */
const PROXY_CERT_INFO = "1.3.6.1.5.5.7.1.14";
/** Netscape certificate type: OpenSSL reads it for purposes; keypin refuses to guess. */
const NETSCAPE_CERT_TYPE = "2.16.840.1.113730.1.1";
/** RSA and DSA keys below OpenSSL's security level 1 (80 bits); above 8192 bits, keypin bounds its own work. */
const MIN_RSA_BITS = 1024;
const MAX_RSA_BITS = 8192;

/**
 * Checks what a certificate must satisfy at position `index` of a path, on its own: validity at `now` (OpenSSL's
 * `notBefore <= now < notAfter`, in whole seconds), its extensions understood, its key size, and its role: the leaf
 * (index 0) must be usable by a TLS server; every later certificate, the anchor included, must be a CA
 * (basicConstraints cA; a version 1 self-signed anchor is the one exception OpenSSL keeps), with keyCertSign when it
 * has keyUsage, and serverAuth when it has extendedKeyUsage.
 *
 * @example
 * ```ts
 * const problem = certificateViolation(parseCertificate(der), 1, { now: new Date(), anchor: false });
 * if (problem) console.log(problem.reason, problem.detail); // "not-a-ca", "…"
 * ```
 */
export function certificateViolation(
  cert: CertificateInfo,
  index: number,
  options: { now: Date; anchor: boolean },
): PathRuleViolation | undefined {
  const at = (reason: PathRuleReason, detail: string): PathRuleViolation => ({ index, reason, detail });
  const now = Math.floor(options.now.getTime() / 1000) * 1000;
  if (cert.constraints.invalidTime) return at("invalid-time", cert.constraints.invalidTime);
  if (cert.notBefore.getTime() > now)
    return at("not-yet-valid", `not valid before ${cert.notBefore.toISOString()}`);
  if (cert.notAfter.getTime() <= now) return at("expired", `expired on ${cert.notAfter.toISOString()}`);
  const c = cert.constraints;
  const [problem] = c.problems;
  if (problem !== undefined) return at("invalid-extension", problem);
  const unknownCritical = c.critical.find((oid) => !UNDERSTOOD_CRITICAL_EXTENSIONS.has(oid));
  if (unknownCritical)
    return at("critical-extension", `has a critical extension keypin does not handle (${unknownCritical})`);
  if (c.present.includes(NETSCAPE_CERT_TYPE))
    return at("unsupported-extension", "has a Netscape certificate type, which keypin does not evaluate");
  if (c.present.includes(PROXY_CERT_INFO))
    return at(
      "unsupported-extension",
      "is a proxy certificate (RFC 3820), which OpenSSL refuses unless asked to allow them",
    );
  if (c.present.includes("2.5.29.36"))
    return at(
      "unsupported-extension",
      "has policyConstraints, and keypin does not evaluate certificate policies",
    );
  const bits = rsaBits(cert.keyType);
  if (bits !== undefined && (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS))
    return at(
      "weak-key",
      `has a ${cert.keyType} key (keypin accepts ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits)`,
    );
  if (cert.keyType === "EC-explicit")
    return at("weak-key", "has an EC key with explicit curve parameters, which OpenSSL refuses on a path");
  if (cert.keyType === "DSA" || cert.keyType.startsWith("unknown-"))
    return at("weak-key", `has a ${cert.keyType} key, which keypin does not verify`);
  if (!options.anchor && looksSelfSigned(cert))
    return at(
      "self-signed",
      "is self-signed but not a trust anchor, and OpenSSL ends a path at a self-signed certificate",
    );
  if (c.extKeyUsage && !c.extKeyUsage.includes(SERVER_AUTH))
    return at("purpose", "has an extendedKeyUsage without serverAuth");
  if (index === 0) {
    const ku = c.keyUsage;
    if (
      ku &&
      !ku.some((bit) => bit === "digitalSignature" || bit === "keyEncipherment" || bit === "keyAgreement")
    )
      return at(
        "purpose",
        "has a keyUsage a TLS server cannot use (no digitalSignature, keyEncipherment or keyAgreement)",
      );
    return undefined;
  }
  const v1Root = options.anchor && c.version === 1 && cert.names.subject === cert.names.issuer;
  if (!c.basicConstraints?.ca && !v1Root)
    return at("not-a-ca", "is not a CA certificate (no basicConstraints cA)");
  if (c.keyUsage && !c.keyUsage.includes("keyCertSign"))
    return at("no-key-cert-sign", "has a keyUsage without keyCertSign, so it may not issue certificates");
  return undefined;
}

/**
 * Checks the rules that join an issuer to the path below it: its pathLenConstraint against the intermediates
 * under it that are not self-issued, and its name constraints against every certificate under it (the leaf's DNS
 * and IP SANs, or its common names when it has no DNS SAN). `below` is the path from the leaf up to the issuer's
 * child; the issuer would stand at `below.length`.
 *
 * @example
 * ```ts
 * const problem = issuerViolation([leaf, intermediate], root);
 * ```
 */
export function issuerViolation(
  below: readonly CertificateInfo[],
  issuer: CertificateInfo,
): PathRuleViolation | undefined {
  const index = below.length;
  const pathLen = issuer.constraints.basicConstraints?.pathLen;
  if (pathLen !== undefined) {
    let intermediates = 0;
    for (let i = 1; i < below.length; i++) if (!isSelfIssued(below[i]!)) intermediates++;
    if (intermediates > pathLen)
      return {
        index,
        reason: "path-length",
        detail: `allows ${pathLen} intermediate${pathLen === 1 ? "" : "s"} below it (pathLenConstraint), and the path has ${intermediates}`,
      };
  }
  const nc = issuer.constraints.nameConstraints;
  if (nc) {
    const other = [...nc.permitted, ...nc.excluded].find((subtree) => subtree.kind === "other");
    if (other)
      return {
        index,
        reason: "name-constraints",
        detail: `has name constraints of a kind keypin does not evaluate (tag 0x${(other as { tag: number }).tag.toString(16)})`,
      };
    for (let i = 0; i < below.length; i++) {
      const cert = below[i]!;
      if (i > 0 && isSelfIssued(cert)) continue;
      const violation = nameConstraintViolation(cert, i === 0, nc);
      if (violation)
        return {
          index,
          reason: "name-constraints",
          detail: `has name constraints that ${violation} (certificate ${i} of the path)`,
        };
    }
  }
  return undefined;
}

/**
 * What OpenSSL takes for a self-signed certificate without checking the signature (`X509_self_signed(x, 0)`): the
 * same name as subject and issuer, and key identifiers that do not contradict it. OpenSSL's path ends there.
 */
function looksSelfSigned(cert: CertificateInfo): boolean {
  const { authorityKeyId, subjectKeyId } = cert.constraints;
  return (
    isSelfIssued(cert) &&
    !(authorityKeyId !== undefined && subjectKeyId !== undefined && authorityKeyId !== subjectKeyId)
  );
}

/** Self-issued: subject and issuer are the same name (OpenSSL's EXFLAG_SI). */
export function isSelfIssued(cert: CertificateInfo): boolean {
  return cert.names.subject === cert.names.issuer;
}

function rsaBits(keyType: string): number | undefined {
  const m = /^RSA(?:-PSS)?-(\d+)$/.exec(keyType);
  return m ? Number(m[1]) : undefined;
}

type Constraints = { permitted: NameSubtree[]; excluded: NameSubtree[] };

function nameConstraintViolation(cert: CertificateInfo, leaf: boolean, nc: Constraints): string | undefined {
  const dns = [...cert.subjectAltNames.dns];
  if (leaf && dns.length === 0) dns.push(...commonNames(cert).filter((cn) => cn.includes(".")));
  for (const name of dns) {
    const problem = check(nc, "dns", (subtree) => subtree.kind === "dns" && dnsWithin(name, subtree.base));
    if (problem) return `${problem} ${JSON.stringify(name)}`;
  }
  for (const ip of cert.constraints.ipAddressBytes) {
    const problem = check(nc, "ip", (subtree) => subtree.kind === "ip" && ipWithin(ip, subtree));
    if (problem) return `${problem} an IP address SAN`;
  }
  return undefined;
}

/** OpenSSL's nc_match for one name: some permitted subtree of its kind, when there are any, and no excluded one. */
function check(
  nc: Constraints,
  kind: "dns" | "ip",
  within: (subtree: NameSubtree) => boolean,
): string | undefined {
  const permitted = nc.permitted.filter((subtree) => subtree.kind === kind);
  if (permitted.length > 0 && !permitted.some(within)) return "do not permit";
  if (nc.excluded.some((subtree) => subtree.kind === kind && within(subtree))) return "exclude";
  return undefined;
}

/** OpenSSL's nc_dns: `base` matches itself and names ending in `.base`; a base starting with "." only its subdomains. */
function dnsWithin(name: string, base: string): boolean {
  if (base.length === 0) return true;
  if (name.length < base.length) return false;
  const tail = name.slice(name.length - base.length);
  if (name.length > base.length && !base.startsWith(".") && name[name.length - base.length - 1] !== ".")
    return false;
  return tail.toLowerCase() === base.toLowerCase();
}

function ipWithin(ip: Uint8Array, subtree: { address: Uint8Array; mask: Uint8Array }): boolean {
  if (ip.length !== subtree.address.length) return false;
  for (let i = 0; i < ip.length; i++)
    if ((ip[i]! & subtree.mask[i]!) !== (subtree.address[i]! & subtree.mask[i]!)) return false;
  return true;
}

/** The commonName values of the subject, from the canonical name (lowercased, as name constraints compare). */
function commonNames(cert: CertificateInfo): string[] {
  const rdns = JSON.parse(cert.names.subject) as string[][];
  return rdns
    .flat()
    .flatMap((entry) => (entry.startsWith("2.5.4.3=") ? [entry.slice("2.5.4.3=".length)] : []));
}
