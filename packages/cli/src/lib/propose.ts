import type { CertificateInfo, DomainPolicyInput, Pin, PinRole } from "@keypin/core";
import { computePin } from "@keypin/core";
import { sha256 } from "@keypin/node";
import { findRotatingFamily, parseDistinguishedName } from "./ca-families.js";
import type { PinShape } from "./init-platforms.js";

/** A pin as `init` writes it. */
export interface ProposedPin {
  pin: Pin;
  role: PinRole;
  label: string;
}

/**
 * A certificate's common name for a label. The name is the server's text: what a label may not hold (XML
 * 1.0 characters only, as validation requires: no control character, U+FFFE, U+FFFF or unpaired surrogate)
 * becomes U+FFFD, so the keypin.json written loads.
 */
function cn(subject: string): string {
  const name = parseDistinguishedName(subject).get("CN") ?? subject;
  return name.replace(/[^\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD");
}

/**
 * The pins `init` proposes for a host from its signature-verified path (leaf first, anchor last):
 * the leaf key (a key you control), the CA (the roots for a family that rotates intermediates, otherwise
 * the issuing intermediate, or the root when the root issues the leaf), and the backup. `shape` narrows it
 * for platforms that cannot take all three (iOS ATS): `leaf-backup` keeps the leaf and the backup; `ca`
 * keeps only CA keys (the CA above, and the root too when it is another key) and needs no backup.
 *
 * @example
 * proposePins(inspection.verified, { pin: backupPin, label: "offline backup key" });
 */
export function proposePins(
  verified: readonly CertificateInfo[],
  backup: { pin: Pin; label: string } | undefined,
  shape: PinShape = "leaf-ca-backup",
): ProposedPin[] {
  const pins: ProposedPin[] = [];
  const leaf = verified[0];
  if (!leaf) throw new Error("proposePins needs a verified path");
  const pinOf = (cert: CertificateInfo) => computePin(cert.spki, sha256);
  pins.push({
    pin: pinOf(leaf),
    role: "leaf",
    label: `leaf key of ${cn(leaf.subject)}: renewals must reuse this key`,
  });
  const family = findRotatingFamily(leaf.issuer);
  const root = verified.length > 1 ? verified[verified.length - 1] : undefined;
  const intermediate = verified.length > 2 ? verified[1] : undefined;
  if (family && root) {
    pins.push({
      pin: pinOf(root),
      role: "root",
      label: `${cn(root.subject)}: ${family.name} rotates its intermediates, so the root is pinned`,
    });
  } else if (intermediate) {
    pins.push({
      pin: pinOf(intermediate),
      role: "intermediate",
      label: `issuing CA ${cn(intermediate.subject)}`,
    });
  } else if (root) {
    pins.push({ pin: pinOf(root), role: "root", label: `CA ${cn(root.subject)}` });
  }
  if (shape === "ca" && root && !pins.some((p) => p.role === "root")) {
    pins.push({ pin: pinOf(root), role: "root", label: `root CA ${cn(root.subject)}` });
  }
  if (shape !== "ca") {
    if (!backup) throw new Error(`proposePins needs a backup key for ${shape}`);
    pins.push({ pin: backup.pin, role: "backup", label: backup.label });
  }
  const kept = pins.filter((p) =>
    shape === "leaf-backup"
      ? p.role === "leaf" || p.role === "backup"
      : shape === "ca"
        ? p.role !== "leaf"
        : true,
  );
  const unique = new Map<Pin, ProposedPin>();
  for (const p of kept) if (!unique.has(p.pin)) unique.set(p.pin, p);
  return [...unique.values()];
}

/**
 * A domain entry for keypin.json from proposed pins.
 *
 * @example
 * const entry = proposeDomain(pins, { includeSubdomains: false });
 */
export function proposeDomain(
  pins: readonly ProposedPin[],
  options: { includeSubdomains: boolean },
): DomainPolicyInput {
  const entry: DomainPolicyInput = { pins: pins.map((p) => ({ pin: p.pin, role: p.role, label: p.label })) };
  if (options.includeSubdomains) entry.includeSubdomains = true;
  return entry;
}
