import type { CertificateInfo, DomainPolicy, Pin } from "@keypin/core";
import { computePin } from "@keypin/core";
import { sha256 } from "@keypin/node";
import { findRotatingFamily } from "./ca-families.js";

/** A finding from comparing a domain's pins with what its server serves today. */
export interface LiveFinding {
  code:
    | "backup-in-live-chain"
    | "rotates-intermediates"
    | "will-not-survive-renewal"
    | "leaf-expires-soon"
    | "policy-expires-soon";
  message: string;
  domain: string;
}

/** Days before a date that count as "near". */
export const nearDays = 30;

const dayMs = 86_400_000;

/**
 * Lints a domain's pins against the live chains of one of its hosts: a "backup" pin that is in the live
 * chain, pins only on an intermediate of a CA family that rotates intermediates, pins that will not
 * survive a renewal with a new key (unless the policy records that renewals keep the leaf key,
 * `"renewal": { "reuseKey": true }`, as `keypin init` writes for iOS ATS leaf identities and as the
 * `ats-leaf-renewal` rule reads it; `keypin plan` then watches that the key is kept), a leaf that is pinned
 * and expires soon, and an `expires` date near
 * (after it Android and TrustKit stop enforcing: pinning fails open there, while iOS and OkHttp keep
 * enforcing).
 *
 * @example
 * const findings = lintLiveChain(domainPolicy, inspection.served, inspection.verified ?? []);
 */
export function lintLiveChain(
  domain: DomainPolicy,
  served: readonly CertificateInfo[],
  verified: readonly CertificateInfo[],
  now: Date = new Date(),
): LiveFinding[] {
  const findings: LiveFinding[] = [];
  const pinOf = (cert: CertificateInfo): Pin => computePin(cert.spki, sha256);
  const livePins = new Map<Pin, string>();
  for (const cert of [...served, ...verified]) livePins.set(pinOf(cert), cert.subject);
  for (const key of domain.pins) {
    if (key.role === "backup" && livePins.has(key.pin)) {
      findings.push({
        code: "backup-in-live-chain",
        domain: domain.domain,
        message: `${domain.domain}: the backup pin ${key.pin} is in the live chain (${livePins.get(key.pin)}): a backup must be a key that is not on any server; make one with \`keypin backup\``,
      });
    }
  }
  const pinned = new Set(domain.pins.filter((k) => k.role !== "backup").map((k) => k.pin));
  const matching = verified
    .map((cert, i) => ({ i, cert, pin: pinOf(cert) }))
    .filter((m) => pinned.has(m.pin));
  const leaf = verified[0];
  if (leaf && matching.length > 0) {
    const family = findRotatingFamily(leaf.issuer);
    const positions = new Set(matching.map((m) => m.i));
    if (family && positions.size === 1 && positions.has(1)) {
      findings.push({
        code: "rotates-intermediates",
        domain: domain.domain,
        message: `${domain.domain}: the only matching pin is ${family.name}'s intermediate ${verified[1]!.subject}, but ${family.name} picks among ${family.intermediateNames} at renewal: pin the roots (${family.roots.join(", ")}) or keys you control`,
      });
    }
    if (positions.size === 1 && positions.has(0) && domain.renewal?.reuseKey !== true) {
      findings.push({
        code: "will-not-survive-renewal",
        domain: domain.domain,
        message: `${domain.domain}: only the leaf key matches; a renewal with a new key (certbot's default) locks apps out unless it reuses this key or moves to the backup key: renew with the same key (certbot --reuse-key) and record it as "renewal": { "reuseKey": true }, so keypin plan watches it, or also pin the CA (intermediate or root)`,
      });
    }
    if (positions.has(0)) {
      const days = Math.floor((leaf.notAfter.getTime() - now.getTime()) / dayMs);
      if (days < nearDays) {
        findings.push({
          code: "leaf-expires-soon",
          domain: domain.domain,
          message: `${domain.domain}: the pinned leaf ${leaf.subject} expires in ${days} days: make sure the renewal keeps the pinned key`,
        });
      }
    }
  }
  if (domain.expires !== undefined) {
    const end = Date.parse(`${domain.expires}T23:59:59.999Z`);
    const days = Math.floor((end - now.getTime()) / dayMs);
    if (days >= 0 && days < nearDays) {
      findings.push({
        code: "policy-expires-soon",
        domain: domain.domain,
        message: `${domain.domain}: "expires" ${domain.expires} is in ${days} days; after it Android and TrustKit stop enforcing these pins (they fail open) while iOS and OkHttp keep enforcing: move the date or remove it`,
      });
    }
  }
  return findings;
}
