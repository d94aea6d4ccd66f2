// React Native: a TypeScript module calling react-native-ssl-public-key-pinning's initializeSslPinning.
import type { Policy } from "@keypin/core";
import { pinToBase64 } from "@keypin/core";
import {
  headerLines,
  isTrustKitUnpinnable,
  nextDay,
  planDomains,
  pointerOf,
  reportsDropped,
  settleLosses,
  slashComment,
  stringLiteral,
  trailingComment,
} from "../common.js";
import { defineExportFormat } from "../format.js";
import { okhttpOverlapLosses } from "../okhttp.js";
import type { ExportOptions, ExportResult } from "../types.js";
import { nestedSubdomainLosses, trustKitDomainLoss } from "./trustkit.js";

/**
 * `react-native`: a TypeScript module calling react-native-ssl-public-key-pinning's `initializeSslPinning`.
 *
 * @example
 * ```ts
 * exportPolicy(policy, "react-native", { out: "src/pinning.ts" });
 * ```
 */
export const reactNative = defineExportFormat({
  name: "react-native",
  platform: "react-native-ssl-public-key-pinning (TrustKit on iOS, OkHttp on Android)",
  options: [],
  defaultOut: "src/pinning.ts",
  shortFlags: false,
  export: exportReactNative,
});

function exportReactNative(policy: Policy, options: ExportOptions): ExportResult {
  const { platform } = reactNative;
  const noReportOnly = {
    platform,
    problem: "the library has no report-only mode (a pinned domain always blocks on mismatch).",
    consequence:
      "Left out of initializeSslPinning: the domain is not pinned (never blocked) and no report is sent.",
  };
  const {
    losses,
    written: exported,
    leftOut: omitted,
  } = planDomains(policy, noReportOnly, (d, losses) => {
    if (isTrustKitUnpinnable(d.domain)) {
      losses.push(trustKitDomainLoss(d, `${platform}, on iOS`));
      return "left out";
    }
    const distinct = new Set(d.pins.map((p) => p.pin)).size;
    if (distinct < 2) {
      losses.push({
        domain: d.domain,
        path: pointerOf(d, "pins"),
        platform,
        problem: `on iOS the library runs TrustKit, which refuses an enforced domain with fewer than two pins (${distinct} here); add a backup pin.`,
        consequence: "Left out of initializeSslPinning: the domain is not pinned on either platform.",
        fix: `add a second pin to ${pointerOf(d, "pins")}: a backup key you keep offline (keypin backup --out DIR prints its pin)`,
        blocking: false,
      });
      return "left out";
    }
    if (d.reportUris.length > 0) {
      const problem =
        "the library sends no pin-failure reports (it only calls addSslPinningErrorListener's callback).";
      const consequence = "Dropped: failures block the request and nothing is sent to the report URIs.";
      losses.push(reportsDropped(d, platform, problem, consequence));
    }
    return "written";
  });
  losses.push(...okhttpOverlapLosses(exported, omitted, `${platform}, on Android`));
  losses.push(...nestedSubdomainLosses({ domains: exported }, `${platform}, on iOS`));
  const notes = [
    "Call initializePinning() once at start-up, before the first request. It needs the native module: under Expo, a development build (not Expo Go); check isSslPinningAvailable() first if the app may run in Expo Go.",
    "addSslPinningErrorListener(callback) tells you about failures; pins apply to fetch/XMLHttpRequest (and libraries built on them), not to WebViews.",
  ];
  if (exported.some((d) => d.expires !== undefined)) {
    notes.push(
      "Each expirationDate is the day after keypin's expires: the library stops enforcing at midnight UTC starting that date, which is when keypin's last pinned day ends. On Android it checks the date only when initializeSslPinning runs.",
    );
  }
  const differences = settleLosses(reactNative, losses, options);

  const lines = [
    slashComment(headerLines(reactNative, options, notes, differences)),
    'import { initializeSslPinning, type PinningOptions } from "react-native-ssl-public-key-pinning";',
    "",
    "/** The pins of the policy, in react-native-ssl-public-key-pinning's format. */",
    "export const sslPinningOptions: PinningOptions = {",
  ];
  for (const d of exported) {
    lines.push(`  ${stringLiteral(d.domain)}: {`);
    lines.push(`    includeSubdomains: ${d.includeSubdomains},`);
    lines.push("    publicKeyHashes: [");
    for (const key of d.pins)
      lines.push(`      ${stringLiteral(pinToBase64(key.pin))},${trailingComment(key)}`);
    lines.push("    ],");
    if (d.expires !== undefined) lines.push(`    expirationDate: ${stringLiteral(nextDay(d.expires))},`);
    lines.push("  },");
  }
  lines.push(
    "};",
    "",
    "/** Turns pinning on. Call once at start-up, before the first request. */",
    "export function initializePinning(): Promise<void> {",
    "  return initializeSslPinning(sslPinningOptions);",
    "}",
  );
  return { content: `${lines.join("\n")}\n`, differences, notes };
}
