// iOS App Transport Security: the Info.plist NSAppTransportSecurity/NSPinnedDomains fragment.
import type { Policy } from "@keypin/core";
import { isIpAddress, normalizePolicy, pinToBase64 } from "@keypin/core";
import { build } from "plist";
import {
  assertXmlCharacters,
  expiryDropped,
  headerLines,
  labelsBelow,
  planDomains,
  pointerOf,
  reportsDropped,
  settleLosses,
} from "../common.js";
import { defineExportFormat } from "../format.js";
import type { ExportOptions, ExportResult } from "../types.js";

/**
 * `ios-ats`: the Info.plist `NSAppTransportSecurity/NSPinnedDomains` fragment (iOS 14 and later).
 *
 * @example
 * ```ts
 * exportPolicy(policy, "ios-ats", { source: "keypin.json" });
 * ```
 */
export const iosAts = defineExportFormat({
  name: "ios-ats",
  platform: "iOS App Transport Security (NSPinnedDomains)",
  options: [],
  defaultOut: "ios/pinning.plist",
  shortFlags: true,
  export: exportIosAts,
});

/**
 * One `NSPinnedDomains` entry, as Apple documents it.
 *
 * @example
 * ```ts
 * const entry: AtsPinnedDomain = { NSIncludesSubdomains: false, NSPinnedLeafIdentities: [{ "SPKI-SHA256-BASE64": "…" }] };
 * ```
 */
export interface AtsPinnedDomain {
  NSIncludesSubdomains: boolean;
  NSPinnedLeafIdentities?: { "SPKI-SHA256-BASE64": string }[];
  NSPinnedCAIdentities?: { "SPKI-SHA256-BASE64": string }[];
}

/**
 * The `NSPinnedDomains` dictionary for a policy, with the same faithful-or-loud rules as
 * `exportPolicy(policy, "ios-ats")`; the policy is validated first (`PolicyError` when invalid). The Expo plugin merges it into the app's Info.plist.
 *
 * @example
 * ```ts
 * const { pinnedDomains, differences } = buildAtsPinnedDomains(policy, { allowLossy: false });
 * infoPlist.NSAppTransportSecurity = { ...infoPlist.NSAppTransportSecurity, NSPinnedDomains: pinnedDomains };
 * ```
 */
export function buildAtsPinnedDomains(
  input: Policy,
  options: ExportOptions = {},
): { pinnedDomains: Record<string, AtsPinnedDomain>; differences: string[]; notes: string[] } {
  // A public entry point (the Expo plugin calls it): validated like exportPolicy's input.
  const { policy } = normalizePolicy(input);
  const { platform } = iosAts;
  const notes = [
    "Merge into the app's Info.plist under NSAppTransportSecurity (keep its other keys). NSPinnedDomains needs iOS 14 or later; earlier versions ignore it and do not pin.",
    "ATS pins apply to URLSession and the system's networking; WKWebView does not apply NSPinnedDomains.",
  ];
  const pinnedDomains: Record<string, AtsPinnedDomain> = {};

  const noReportOnly = {
    platform,
    problem: "ATS has no report-only mode (a pinned domain always blocks on mismatch) and sends no reports.",
    consequence:
      "Left out of NSPinnedDomains: the domain is not pinned (never blocked) and no report is sent.",
    fix: 'export for iOS with --format trustkit (kTSKEnforcePinning: false reports without blocking), or set "mode": "enforce"',
  };
  const { losses, leftOut } = planDomains(policy, noReportOnly, (d, losses) => {
    if (isIpAddress(d.domain)) {
      losses.push({
        domain: d.domain,
        path: pointerOf(d),
        platform,
        problem: "NSPinnedDomains takes domain names; ATS does not apply it to IP addresses.",
        consequence: "Left out: connections to this address are not pinned.",
        blocking: false,
      });
      return "left out";
    }
    if (d.expires !== undefined) losses.push(expiryDropped(d, platform, "ATS pins have no expiry."));
    if (d.reportUris.length > 0) {
      const consequence = "Dropped: failures block the connection and nothing is reported.";
      losses.push(reportsDropped(d, platform, "ATS sends no pin-failure reports.", consequence));
    }
    if (d.includeSubdomains) {
      losses.push({
        domain: d.domain,
        path: pointerOf(d, "includeSubdomains"),
        platform,
        problem: `NSIncludesSubdomains covers one more label only (x.${d.domain}), where keypin covers subdomains at any depth.`,
        consequence: `Written as NSIncludesSubdomains: hosts two or more labels below (a.b.${d.domain}) are not pinned.`,
        blocking: false,
        fix: `export for iOS with --format trustkit (kTSKIncludeSubdomains covers every depth), or list each deeper host as its own domain`,
      });
    }
    const leaf: string[] = [];
    const ca: string[] = [];
    d.pins.forEach((key, index) => {
      switch (key.role) {
        case "leaf":
        case "backup":
          leaf.push(pinToBase64(key.pin));
          break;
        case "intermediate":
        case "root":
          ca.push(pinToBase64(key.pin));
          break;
        case undefined:
          losses.push({
            domain: d.domain,
            path: pointerOf(d, "pins", index),
            platform,
            problem:
              "this pin has no role, and ATS must know whether a key is a leaf key (NSPinnedLeafIdentities) or a CA key (NSPinnedCAIdentities). Give it a role in the policy.",
            consequence: "Left out: a chain carrying only this key is refused.",
            blocking: false,
            fix: `give ${pointerOf(d, "pins", index)} a "role" (leaf or backup for your keys, intermediate or root for a CA's)`,
          });
          break;
        default: {
          const never: never = key.role;
          throw new Error(`unknown role ${String(never)}`);
        }
      }
    });
    if (leaf.length > 0 && ca.length > 0) {
      const caPins = d.pins.filter((p) => p.role === "intermediate" || p.role === "root");
      const caIndexes = d.pins.flatMap((p, i) => (p.role === "intermediate" || p.role === "root" ? [i] : []));
      const leafIndexes = d.pins.flatMap((p, i) => (p.role === "leaf" || p.role === "backup" ? [i] : []));
      losses.push({
        domain: d.domain,
        path: pointerOf(d, "pins"),
        platform,
        problem:
          "this domain pins both leaf keys and CA keys; with both, ATS requires a match in each category, where keypin accepts any one pin.",
        consequence:
          "Written with both categories: a chain must now carry one of the leaf/backup keys AND one of the intermediate/root keys.",
        blocking: false,
        fix: `keep one category for this domain: drop the CA pin${caPins.length === 1 ? "" : "s"} (pins ${caIndexes.join(", ")}: ${caPins.map((p) => p.role).join(", ")}) and keep the leaf and backup keys (renewals must then reuse the leaf key, e.g. certbot --reuse-key; keypin init --ios-identities leaf proposes this), or drop pins ${leafIndexes.join(", ")} (leaf/backup) and pin CA keys only (keypin init --ios-identities ca); or export for iOS with --format trustkit, which accepts any one pin as keypin does`,
      });
    }
    if (leaf.length === 0 && ca.length === 0) return "left out";
    const entry: AtsPinnedDomain = { NSIncludesSubdomains: d.includeSubdomains };
    if (leaf.length > 0) entry.NSPinnedLeafIdentities = leaf.map((b) => ({ "SPKI-SHA256-BASE64": b }));
    if (ca.length > 0) entry.NSPinnedCAIdentities = ca.map((b) => ({ "SPKI-SHA256-BASE64": b }));
    pinnedDomains[d.domain] = entry;
    return "written";
  });

  // A domain left out must not fall under a parent entry's NSIncludesSubdomains (one label): the parent's
  // pins would then block it, where the policy never blocks it.
  for (const d of leftOut) {
    for (const [parent, entry] of Object.entries(pinnedDomains)) {
      if (entry.NSIncludesSubdomains && labelsBelow(d.domain, parent) === 1) {
        losses.push({
          domain: d.domain,
          path: pointerOf(d),
          platform,
          problem: `ATS cannot leave ${d.domain} unpinned while ${parent} has NSIncludesSubdomains: ${parent}'s pins would block it.`,
          consequence: "Not writable.",
          blocking: true,
        });
      }
    }
  }

  const differences = settleLosses(iosAts, losses, options);
  return { pinnedDomains, differences, notes };
}

function exportIosAts(policy: Policy, options: ExportOptions): ExportResult {
  const { pinnedDomains, differences, notes } = buildAtsPinnedDomains(policy, options);
  const xml = build({ NSAppTransportSecurity: { NSPinnedDomains: pinnedDomains } } as never, {
    indent: "  ",
  });
  const header = headerLines(iosAts, options, notes, differences)
    .map((l) => (l === "" ? "" : `  ${l}`))
    .join("\n");
  const [declaration, ...rest] = xml.split("\n");
  const content = assertXmlCharacters(
    `${[declaration, `<!--\n${header}\n-->`, ...rest].join("\n").trimEnd()}\n`,
    iosAts.name,
  );
  return { content, differences, notes };
}
