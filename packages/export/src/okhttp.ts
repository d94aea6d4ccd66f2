// OkHttp's CertificatePinner, shared by the okhttp-kotlin and okhttp-java formats (and, for its
// overlap rules, by react-native, which runs OkHttp on Android).
import type { DomainPolicy, PinnedKey, Policy } from "@keypin/core";
import {
  expiryDropped,
  headerLines,
  labelsBelow,
  planDomains,
  pointerOf,
  reportsDropped,
  settleLosses,
  stringLiteral,
  trailingComment,
} from "./common.js";
import { ExportOptionError } from "./errors.js";
import type { ExportFormatDescriptor } from "./format.js";
import type { ExportLoss, ExportOptions } from "./types.js";

/** The platform name of both OkHttp formats. */
export const okhttpPlatform = "OkHttp CertificatePinner";

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

/**
 * What both OkHttp formats write: the `add(pattern, pins…)` calls, the header (with `extraNote` last in
 * the notes) and the `package` line, or a `LossyExportError`.
 */
export function planOkHttp(
  policy: Policy,
  options: ExportOptions,
  format: ExportFormatDescriptor,
  extraNote: string,
): { entries: OkHttpEntry[]; header: string[]; differences: string[]; notes: string[] } {
  const platform = format.platform;
  const noReportOnly = {
    platform,
    problem: "OkHttp has no report-only mode (a pinned host always fails on mismatch) and sends no reports.",
    consequence:
      "Left out of the CertificatePinner: the domain is not pinned (never blocked) and no report is sent.",
    fix: `set "mode": "enforce" once the pins are known good (Android's network security config and ATS have no report-only mode either; TrustKit and @keypin/node report without blocking)`,
  };
  const {
    losses,
    written: exported,
    leftOut: omitted,
  } = planDomains(policy, noReportOnly, (d, losses) => {
    if (d.expires !== undefined) losses.push(expiryDropped(d, platform, "OkHttp pins have no expiry."));
    if (d.reportUris.length > 0) {
      const consequence = "Dropped: failures fail the call and nothing is reported.";
      losses.push(reportsDropped(d, platform, "OkHttp sends no pin-failure reports.", consequence));
    }
    return "written";
  });
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
  const differences = settleLosses(format, losses, options);
  const entries: OkHttpEntry[] = [];
  for (const d of exported) {
    entries.push({ pattern: d.domain, domain: d, pins: d.pins });
    if (d.includeSubdomains) entries.push({ pattern: `**.${d.domain}`, domain: d, pins: d.pins });
  }
  notes.push(extraNote);
  return { entries, header: headerLines(format, options, notes, differences), differences, notes };
}

/** The `package` line (and a blank line) when `packageName` is given; refuses a name Java would not take. */
export function packageLine(options: ExportOptions, semicolon: boolean): string[] {
  if (options.packageName === undefined) return [];
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(options.packageName)) {
    throw new ExportOptionError(
      `The package name ${JSON.stringify(options.packageName)} is not a Java/Kotlin package name (e.g. com.myapp.net).`,
    );
  }
  return [`package ${options.packageName}${semicolon ? ";" : ""}`, ""];
}

/** The `.add(pattern, pins…)` calls of the builder chain. */
export function addCalls(entries: OkHttpEntry[], language: "kotlin" | "java", indent: string): string[] {
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
