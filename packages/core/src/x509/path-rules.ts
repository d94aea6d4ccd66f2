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
  return pathLengthViolation(below, issuer) ?? nameConstraintsViolation(below, issuer);
}

/**
 * The issuer's pathLenConstraint against the path below it: the cheap half of {@link issuerViolation}, which a path
 * search can check before it spends a signature verification.
 */
export function pathLengthViolation(
  below: readonly CertificateInfo[],
  issuer: CertificateInfo,
): PathRuleViolation | undefined {
  const pathLen = issuer.constraints.basicConstraints?.pathLen;
  if (pathLen === undefined) return undefined;
  let intermediates = 0;
  for (let i = 1; i < below.length; i++) if (!isSelfIssued(below[i]!)) intermediates++;
  if (intermediates <= pathLen) return undefined;
  return {
    index: below.length,
    reason: "path-length",
    detail: `allows ${pathLen} intermediate${pathLen === 1 ? "" : "s"} below it (pathLenConstraint), and the path has ${intermediates}`,
  };
}

/** What checking name constraints may still spend, in names checked; a search shares one across its links. */
export interface NameCheckBudget {
  /** Names (DNS names and IP addresses, each against one issuer's constraints) left to check; below 0: spent. */
  left: number;
}

/** OpenSSL's NAME_CHECK_MAX: more (names × constraints) than this for one certificate and it refuses the path. */
const NAME_CHECK_MAX = 1 << 20;

/**
 * The issuer's name constraints against every certificate below it that is not a self-issued intermediate (the
 * leaf's DNS and IP SANs, or its common names when it has no DNS SAN): the costly half of {@link issuerViolation}.
 * Like OpenSSL, a certificate whose names times the issuer's constraints exceed 2^20 is refused outright. A DNS name
 * costs one lookup per label whatever the number of constraints (they are indexed once per issuer), so a peer's
 * thousands of names and constraints cost thousands of steps, not millions. With `budget`, each name checked spends
 * one unit; once it is spent this returns undefined and `budget.left` is negative: the caller decides (a search
 * stops, bounded).
 */
export function nameConstraintsViolation(
  below: readonly CertificateInfo[],
  issuer: CertificateInfo,
  budget?: NameCheckBudget,
): PathRuleViolation | undefined {
  const nc = issuer.constraints.nameConstraints;
  if (!nc) return undefined;
  const index = below.length;
  const compiled = compiledConstraints(nc);
  if (compiled.other !== undefined)
    return {
      index,
      reason: "name-constraints",
      detail: `has name constraints of a kind keypin does not evaluate (tag 0x${compiled.other.toString(16)})`,
    };
  for (let i = 0; i < below.length; i++) {
    const cert = below[i]!;
    if (i > 0 && isSelfIssued(cert)) continue;
    const violation = nameViolation(cert, i === 0, compiled, budget);
    if (budget && budget.left < 0) return undefined;
    if (violation)
      return {
        index,
        reason: "name-constraints",
        detail: `has name constraints that ${violation} (certificate ${i} of the path)`,
      };
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

/** One kind of DNS subtree set, indexed: bases as lowercase text, split by whether they start with ".". */
interface DnsSet {
  count: number;
  /** A base "" (any name). */
  any: boolean;
  /** Bases without a leading dot: match the name itself and names ending in ".base". */
  plain: Set<string>;
  /** Bases with a leading dot: match names ending in the base. */
  dotted: Set<string>;
}

interface CompiledConstraints {
  dnsPermitted: DnsSet;
  dnsExcluded: DnsSet;
  ipPermitted: { address: Uint8Array; mask: Uint8Array }[];
  ipExcluded: { address: Uint8Array; mask: Uint8Array }[];
  /** Every subtree, of every kind: OpenSSL's constraint count. */
  total: number;
  /** The tag of a kind keypin does not evaluate, when there is one. */
  other?: number;
}

const compiledCache = new WeakMap<Constraints, CompiledConstraints>();

/** A certificate's constraints indexed once (certificate infos are not changed after parsing). */
function compiledConstraints(nc: Constraints): CompiledConstraints {
  const known = compiledCache.get(nc);
  if (known) return known;
  const dnsSet = (): DnsSet => ({ count: 0, any: false, plain: new Set(), dotted: new Set() });
  const out: CompiledConstraints = {
    dnsPermitted: dnsSet(),
    dnsExcluded: dnsSet(),
    ipPermitted: [],
    ipExcluded: [],
    total: nc.permitted.length + nc.excluded.length,
  };
  for (const [subtrees, dns, ip] of [
    [nc.permitted, out.dnsPermitted, out.ipPermitted],
    [nc.excluded, out.dnsExcluded, out.ipExcluded],
  ] as const) {
    for (const subtree of subtrees) {
      if (subtree.kind === "other") {
        out.other ??= subtree.tag;
      } else if (subtree.kind === "ip") {
        ip.push(subtree);
      } else {
        dns.count++;
        const base = lowerAscii(subtree.base);
        if (base === "") dns.any = true;
        else if (base.startsWith(".")) dns.dotted.add(base);
        else dns.plain.add(base);
      }
    }
  }
  compiledCache.set(nc, out);
  return out;
}

function nameViolation(
  cert: CertificateInfo,
  leaf: boolean,
  nc: CompiledConstraints,
  budget: NameCheckBudget | undefined,
): string | undefined {
  const dns = [...cert.subjectAltNames.dns];
  if (leaf && dns.length === 0) dns.push(...commonNames(cert).filter((cn) => cn.includes(".")));
  const ips = cert.constraints.ipAddressBytes;
  // OpenSSL's guard against a costly check: its name count is the subject's attributes plus every SAN.
  const names = dns.length + ips.length + subjectAttributeCount(cert);
  if (names > 0 && nc.total > NAME_CHECK_MAX / names)
    return `are too many to check against the certificate's ${names} names (${nc.total} constraints; OpenSSL refuses over 2^20 pairs)`;
  for (const name of dns) {
    if (budget && --budget.left < 0) return undefined;
    const lower = lowerAscii(name);
    if (nc.dnsPermitted.count > 0 && !dnsMatches(lower, nc.dnsPermitted))
      return `do not permit ${JSON.stringify(name)}`;
    if (nc.dnsExcluded.count > 0 && dnsMatches(lower, nc.dnsExcluded))
      return `exclude ${JSON.stringify(name)}`;
  }
  for (const ip of ips) {
    if (budget) {
      budget.left -= 1 + nc.ipPermitted.length + nc.ipExcluded.length;
      if (budget.left < 0) return undefined;
    }
    if (nc.ipPermitted.length > 0 && !nc.ipPermitted.some((subtree) => ipWithin(ip, subtree)))
      return "do not permit an IP address SAN";
    if (nc.ipExcluded.some((subtree) => ipWithin(ip, subtree))) return "exclude an IP address SAN";
  }
  return undefined;
}

/**
 * OpenSSL's nc_dns against a set of bases (ASCII case-insensitive, as its ia5ncasecmp): a base matches itself and
 * names ending in ".base"; a base starting with "." matches names ending in it. Each suffix of `name` that starts
 * at a dot (or after it) is looked up once: one step per label.
 */
function dnsMatches(name: string, set: DnsSet): boolean {
  if (set.any) return true;
  if (set.plain.has(name) || set.dotted.has(name)) return true;
  for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
    if (set.dotted.has(name.slice(dot))) return true;
    if (set.plain.has(name.slice(dot + 1))) return true;
  }
  return false;
}

/** ASCII letters lowercased, nothing else changed (OpenSSL folds only ASCII when it compares IA5 names). */
function lowerAscii(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text;
}

function subjectAttributeCount(cert: CertificateInfo): number {
  try {
    return (JSON.parse(cert.names.subject) as string[][]).reduce((n, rdn) => n + rdn.length, 0);
  } catch {
    return 0;
  }
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
