// OkHttp CertificatePinner, as Kotlin or Java source.
import type { DomainPolicy, PinnedKey, Policy } from "@keypin/core";
import {
  expiryDropped,
  headerLines,
  labelsBelow,
  pointerOf,
  reportsDropped,
  settleLosses,
  slashComment,
  stringLiteral,
  trailingComment,
} from "./common.js";
import { ExportOptionError } from "./errors.js";
import type { ExportLoss, ExportOptions, ExportResult } from "./types.js";

const platform = "OkHttp CertificatePinner";

/**
 * The first OkHttp release whose CertificatePinner understands `**.` (any depth, the host itself too).
 * OkHttp 3.x accepts the pattern and matches nothing.
 *
 * @example
 * ```ts
 * console.log(`includeSubdomains needs OkHttp ${okhttpDoubleWildcardMinVersion} or later`);
 * ```
 */
export const okhttpDoubleWildcardMinVersion = "4.3.0";

/** One `add(pattern, pins…)` call. */
export interface OkHttpEntry {
  pattern: string;
  domain: DomainPolicy;
  pins: PinnedKey[];
}

/**
 * Losses common to OkHttp-based pinning (OkHttp itself, and the React Native library on Android):
 * every pattern that matches a host adds its pins (OkHttp unions them), so a domain under an
 * includeSubdomains parent also accepts the parent's pins; and a domain left out cannot stay unpinned under
 * such a parent.
 */
export function okhttpOverlapLosses(
  exported: DomainPolicy[],
  omitted: DomainPolicy[],
  platformName: string,
): ExportLoss[] {
  const losses: ExportLoss[] = [];
  for (const child of exported) {
    for (const parent of exported) {
      if (parent === child || !parent.includeSubdomains) continue;
      if ((labelsBelow(child.domain, parent.domain) ?? 0) < 1) continue;
      const own = new Set(child.pins.map((p) => p.pin));
      const extra = parent.pins.filter((p) => !own.has(p.pin));
      if (extra.length === 0) continue;
      losses.push({
        domain: child.domain,
        path: pointerOf(child, "pins"),
        platform: platformName,
        problem: `OkHttp checks every pattern that matches a host, so ${child.domain} also accepts ${parent.domain}'s ${extra.length} other pin${extra.length === 1 ? "" : "s"} (keypin uses only the most specific entry).`,
        consequence: `Written as is: ${child.domain} accepts its own pins and ${parent.domain}'s.`,
        blocking: false,
      });
    }
  }
  for (const child of omitted) {
    for (const parent of exported) {
      if (!parent.includeSubdomains || (labelsBelow(child.domain, parent.domain) ?? 0) < 1) continue;
      losses.push({
        domain: child.domain,
        path: pointerOf(child),
        platform: platformName,
        problem: `${child.domain} would be left unpinned, but OkHttp would still apply ${parent.domain}'s includeSubdomains pins to it and block it.`,
        consequence: "Not writable.",
        blocking: true,
      });
    }
  }
  return losses;
}

function planOkHttp(policy: Policy, options: ExportOptions, format: "okhttp-kotlin" | "okhttp-java") {
  const losses: ExportLoss[] = [];
  const exported: DomainPolicy[] = [];
  const omitted: DomainPolicy[] = [];
  for (const d of policy.domains) {
    if (d.mode === "report-only") {
      losses.push({
        domain: d.domain,
        path: pointerOf(d, "mode"),
        platform,
        problem:
          "OkHttp has no report-only mode (a pinned host always fails on mismatch) and sends no reports.",
        consequence:
          "Left out of the CertificatePinner: the domain is not pinned (never blocked) and no report is sent.",
        blocking: false,
      });
      omitted.push(d);
      continue;
    }
    exported.push(d);
    if (d.expires !== undefined) losses.push(expiryDropped(d, platform, "OkHttp pins have no expiry."));
    if (d.reportUris.length > 0) {
      const consequence = "Dropped: failures fail the call and nothing is reported.";
      losses.push(reportsDropped(d, platform, "OkHttp sends no pin-failure reports.", consequence));
    }
  }
  losses.push(...okhttpOverlapLosses(exported, omitted, platform));
  const notes = [
    "OkHttp checks pins against its cleaned, verified chain (OkHttp 3.1.2 and later; earlier versions are vulnerable to CVE-2016-2402).",
  ];
  if (exported.some((d) => d.includeSubdomains)) {
    notes.push(
      `includeSubdomains is written as a **.host pattern, which needs OkHttp ${okhttpDoubleWildcardMinVersion} or later. OkHttp 3.x (Debian ships 3.13) accepts **. and matches nothing, so there only the exact host entry written next to it pins, and subdomains are NOT pinned.`,
    );
  }
  if (options.packageName === undefined) {
    notes.push("Written without a package line: export with --package com.example.net to add one.");
  }
  const differences = settleLosses(format, platform, losses, options);
  const entries: OkHttpEntry[] = [];
  for (const d of exported) {
    entries.push({ pattern: d.domain, domain: d, pins: d.pins });
    if (d.includeSubdomains) entries.push({ pattern: `**.${d.domain}`, domain: d, pins: d.pins });
  }
  return { entries, differences, notes };
}

function packageLine(options: ExportOptions, semicolon: boolean): string[] {
  if (options.packageName === undefined) return [];
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(options.packageName)) {
    throw new ExportOptionError(
      `The package name ${JSON.stringify(options.packageName)} is not a Java/Kotlin package name (e.g. com.myapp.net).`,
    );
  }
  return [`package ${options.packageName}${semicolon ? ";" : ""}`, ""];
}

function addCalls(entries: OkHttpEntry[], language: "kotlin" | "java", indent: string): string[] {
  const lines: string[] = [];
  for (const entry of entries) {
    if (entry.pattern.startsWith("**.")) {
      lines.push(
        `${indent}// ${entry.domain.domain}'s subdomains at any depth: **. needs OkHttp ${okhttpDoubleWildcardMinVersion}+`,
      );
    }
    lines.push(`${indent}.add(`);
    lines.push(`${indent}    ${stringLiteral(entry.pattern, language)},`);
    entry.pins.forEach((key, i) => {
      const comma = i === entry.pins.length - 1 ? "" : ",";
      lines.push(`${indent}    ${stringLiteral(key.pin, language)}${comma}${trailingComment(key)}`);
    });
    lines.push(`${indent})`);
  }
  return lines;
}

export function exportOkHttpKotlin(policy: Policy, options: ExportOptions): ExportResult {
  const { entries, differences, notes } = planOkHttp(policy, options, "okhttp-kotlin");
  notes.push("Use it with OkHttpClient.Builder().certificatePinner(PinningConfig.certificatePinner).");
  const lines = [
    slashComment(headerLines("okhttp-kotlin", options, notes, differences, false)),
    ...packageLine(options, false),
    "import okhttp3.CertificatePinner",
    "",
    "object PinningConfig {",
    "    val certificatePinner: CertificatePinner = CertificatePinner.Builder()",
    ...addCalls(entries, "kotlin", "        "),
    "        .build()",
    "}",
  ];
  return { content: `${lines.join("\n")}\n`, differences, notes };
}

export function exportOkHttpJava(policy: Policy, options: ExportOptions): ExportResult {
  const { entries, differences, notes } = planOkHttp(policy, options, "okhttp-java");
  notes.push(
    "Save as PinningConfig.java; use it with new OkHttpClient.Builder().certificatePinner(PinningConfig.certificatePinner()).",
  );
  const lines = [
    slashComment(headerLines("okhttp-java", options, notes, differences, false)),
    ...packageLine(options, true),
    "import okhttp3.CertificatePinner;",
    "",
    "public final class PinningConfig {",
    "    private PinningConfig() {}",
    "",
    "    public static CertificatePinner certificatePinner() {",
    "        return new CertificatePinner.Builder()",
    ...addCalls(entries, "java", "            "),
    "            .build();",
    "    }",
    "}",
  ];
  return { content: `${lines.join("\n")}\n`, differences, notes };
}
