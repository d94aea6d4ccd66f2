// TrustKit (iOS): Swift code for TrustKit.initSharedInstance(withConfiguration:).
import type { DomainPolicy, Policy } from "@keypin/core";
import { pinToBase64 } from "@keypin/core";
import {
  headerLines,
  isTrustKitUnpinnable,
  labelsBelow,
  nextDay,
  pointerOf,
  settleLosses,
  slashComment,
  stringLiteral,
  trailingComment,
} from "../common.js";
import { defineExportFormat } from "../format.js";
import type { ExportLoss, ExportOptions, ExportResult } from "../types.js";

/**
 * `trustkit`: Swift code for `TrustKit.initSharedInstance(withConfiguration:)` (iOS).
 *
 * @example
 * ```ts
 * exportPolicy(policy, "trustkit", { out: "ios/PinningConfig.swift" });
 * ```
 */
export const trustkit = defineExportFormat({
  name: "trustkit",
  platform: "TrustKit",
  options: [],
  defaultOut: "ios/PinningConfig.swift",
  shortFlags: false,
  export: exportTrustKit,
});

/** TrustKit throws at start-up on an IP address or a single-label name: such a domain is left out. */
export function trustKitDomainLoss(d: DomainPolicy, platformName: string): ExportLoss {
  return {
    domain: d.domain,
    path: pointerOf(d),
    platform: platformName,
    problem: `TrustKit only pins names with a public registrable suffix and throws at start-up on ${d.domain} (an IP address or single-label name).`,
    consequence: "Left out: this domain is not pinned there.",
    blocking: false,
    fix: `pin ${d.domain} by its DNS name instead, or leave it out of the iOS build's policy`,
  };
}

/** Losses shared by TrustKit and the React Native library (which runs TrustKit on iOS). */
export function nestedSubdomainLosses(policy: Policy, platformName: string): ExportLoss[] {
  const losses: ExportLoss[] = [];
  for (const inner of policy.domains) {
    if (!inner.includeSubdomains) continue;
    for (const outer of policy.domains) {
      if (outer === inner || !outer.includeSubdomains) continue;
      if ((labelsBelow(inner.domain, outer.domain) ?? 0) < 1) continue;
      losses.push({
        domain: inner.domain,
        path: pointerOf(inner, "includeSubdomains"),
        platform: platformName,
        problem: `for hosts below ${inner.domain}, TrustKit picks any matching includeSubdomains entry (${inner.domain} or ${outer.domain}), not the nearest as keypin does.`,
        consequence: `Written as is: a host such as x.${inner.domain} may be checked against ${outer.domain}'s settings.`,
        blocking: false,
      });
    }
  }
  return losses;
}

function exportTrustKit(policy: Policy, options: ExportOptions): ExportResult {
  const { platform } = trustkit;
  const losses: ExportLoss[] = nestedSubdomainLosses(policy, platform);
  const notes = [
    "Call PinningConfig.initialize() once, early (in application(_:didFinishLaunchingWithOptions:)).",
    "kTSKSwizzleNetworkDelegates is false: in your URLSessionDelegate, pass each authentication challenge to TrustKit.sharedInstance().pinningValidator.handle(challenge, completionHandler:).",
    "kTSKDisableDefaultReportUri is true: reports go only to the policy's reportUris.",
  ];
  const downgraded = new Set<string>();
  const skipped = new Set<string>();
  for (const d of policy.domains) {
    if (isTrustKitUnpinnable(d.domain)) {
      skipped.add(d.domain);
      losses.push(trustKitDomainLoss(d, platform));
      continue;
    }
    const distinct = new Set(d.pins.map((p) => p.pin)).size;
    if (d.mode === "enforce" && distinct < 2) {
      downgraded.add(d.domain);
      losses.push({
        domain: d.domain,
        path: pointerOf(d, "pins"),
        platform,
        problem: `TrustKit refuses to start with fewer than two pins on an enforced domain (${distinct} here); add a backup pin.`,
        consequence:
          "Written as report-only (kTSKEnforcePinning: false): a mismatch is reported, not blocked.",
        blocking: false,
        fix: `add a second pin to ${pointerOf(d, "pins")}: a backup key you keep offline (keypin backup --out DIR prints its pin)`,
      });
    }
  }
  if (policy.domains.some((d) => d.expires !== undefined)) {
    notes.push(
      "Each kTSKExpirationDate is the day after keypin's expires: TrustKit stops enforcing at midnight UTC starting that date, which is when keypin's last pinned day ends. After it, the domain is not pinned.",
    );
  }
  const differences = settleLosses(trustkit, losses, options);

  const lines: string[] = [];
  lines.push(slashComment(headerLines(trustkit, options, notes, differences)));
  lines.push("import TrustKit", "");
  lines.push("/// The pinning policy, in TrustKit's configuration format.");
  lines.push("enum PinningConfig {");
  lines.push("    static let configuration: [String: Any] = [");
  lines.push("        kTSKSwizzleNetworkDelegates: false,");
  lines.push("        kTSKPinnedDomains: [");
  for (const d of policy.domains) {
    if (skipped.has(d.domain)) continue;
    const enforce = d.mode === "enforce" && !downgraded.has(d.domain);
    lines.push(`            ${stringLiteral(d.domain, "swift")}: [`);
    lines.push(`                kTSKIncludeSubdomains: ${d.includeSubdomains},`);
    lines.push(`                kTSKEnforcePinning: ${enforce},`);
    lines.push("                kTSKDisableDefaultReportUri: true,");
    if (d.expires !== undefined) {
      lines.push(`                kTSKExpirationDate: ${stringLiteral(nextDay(d.expires), "swift")},`);
    }
    if (d.reportUris.length > 0) {
      lines.push("                kTSKReportUris: [");
      for (const uri of d.reportUris) lines.push(`                    ${stringLiteral(uri, "swift")},`);
      lines.push("                ],");
    }
    lines.push("                kTSKPublicKeyHashes: [");
    for (const key of d.pins) {
      lines.push(
        `                    ${stringLiteral(pinToBase64(key.pin), "swift")},${trailingComment(key)}`,
      );
    }
    lines.push("                ],");
    lines.push("            ] as [String: Any],");
  }
  lines.push("        ] as [String: Any],");
  lines.push("    ]");
  lines.push("");
  lines.push("    /// Starts TrustKit with this configuration. Call it once.");
  lines.push("    static func initialize() {");
  lines.push("        TrustKit.initSharedInstance(withConfiguration: configuration)");
  lines.push("    }");
  lines.push("}");
  return { content: `${lines.join("\n")}\n`, differences, notes };
}
