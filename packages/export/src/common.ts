// Helpers shared by the exporters: JSON Pointers, host relations, dates, losses, and the generated header.
import { type DomainPolicy, isIpAddress, type PinnedKey, type Policy } from "@keypin/core";
import { LossyExportError } from "./errors.js";
import { type ExportFormatDescriptor, optionFlags } from "./format.js";
import type { ExportFormat } from "./registry.js";
import type { ExportLoss, ExportOptions } from "./types.js";

/** JSON Pointer (RFC 6901) of a domain's field, using the key as written in the file when known. */
export function pointerOf(domain: DomainPolicy, ...parts: (string | number)[]): string {
  const escapeSegment = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");
  return ["", "domains", domain.key ?? domain.domain, ...parts.map(String)].map(escapeSegment).join("/");
}

/** The loss of `expires` on a platform whose pins never expire: they hold until the app is updated. */
export function expiryDropped(d: DomainPolicy, platform: string, problem: string): ExportLoss {
  return {
    domain: d.domain,
    path: pointerOf(d, "expires"),
    platform,
    problem,
    consequence: `Written without it: these pins hold until the app is updated, not only through ${d.expires}.`,
    blocking: false,
    fix: `remove ${pointerOf(d, "expires")} (and ship new pins by app update before the keys change)`,
  };
}

/** The loss of `reportUris` on a platform that sends no pin-failure reports. */
export function reportsDropped(
  d: DomainPolicy,
  platform: string,
  problem: string,
  consequence: string,
): ExportLoss {
  return {
    domain: d.domain,
    path: pointerOf(d, "reportUris"),
    platform,
    problem,
    consequence,
    blocking: false,
  };
}

/**
 * The policy's domains in order, for a platform without a report-only mode (one that always blocks on a
 * mismatch). Each report-only domain is a loss, `noReportOnly` saying what the platform lacks and how the
 * domain is written instead, and is left out; `visit` checks every other domain, adds its losses to
 * `losses` and says whether the domain is written or left out. The losses keep the policy's order.
 */
export function planDomains(
  policy: Policy,
  noReportOnly: { platform: string; problem: string; consequence: string; fix?: string },
  visit: (d: DomainPolicy, losses: ExportLoss[]) => "written" | "left out",
): { losses: ExportLoss[]; written: DomainPolicy[]; leftOut: DomainPolicy[] } {
  const losses: ExportLoss[] = [];
  const written: DomainPolicy[] = [];
  const leftOut: DomainPolicy[] = [];
  for (const d of policy.domains) {
    if (d.mode === "report-only") {
      losses.push({ domain: d.domain, path: pointerOf(d, "mode"), ...noReportOnly, blocking: false });
      leftOut.push(d);
    } else if (visit(d, losses) === "written") {
      written.push(d);
    } else {
      leftOut.push(d);
    }
  }
  return { losses, written, leftOut };
}

/** How many labels `host` sits below `parent` (0 when equal), or undefined when it is not under it. */
export function labelsBelow(host: string, parent: string): number | undefined {
  if (host === parent) return 0;
  if (!host.endsWith(`.${parent}`)) return undefined;
  return host.slice(0, -parent.length - 1).split(".").length;
}

/**
 * A domain TrustKit refuses at start-up: it needs a registrable suffix from the public suffix list, so IP
 * addresses and single-label names (localhost) make `initSharedInstance` throw.
 */
export function isTrustKitUnpinnable(domain: string): boolean {
  return isIpAddress(domain) || !domain.includes(".");
}

/** The day after a `yyyy-MM-dd` date, as `yyyy-MM-dd` (UTC calendar arithmetic). */
export function nextDay(date: string): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** A short, single-line description of a pin's role and label, for comments next to it. */
export function describePin(key: PinnedKey): string | undefined {
  const parts = [key.role, key.label].filter((p): p is string => p !== undefined && p !== "");
  return parts.length === 0 ? undefined : parts.join(": ");
}

/**
 * Throws a {@link LossyExportError} unless every loss may be written (`allowLossy` and none blocking);
 * returns the differences to list.
 */
export function settleLosses(
  format: ExportFormatDescriptor,
  losses: ExportLoss[],
  options: ExportOptions,
): string[] {
  if (losses.length === 0) return [];
  const source = options.source ?? "keypin.json";
  if (!options.allowLossy || losses.some((l) => l.blocking)) {
    // Only registered formats run, so the name is an ExportFormat.
    throw new LossyExportError(format.name as ExportFormat, format.platform, losses, source);
  }
  return losses.map((l) => `${l.path}: ${l.problem} ${l.consequence}`);
}

/** Quotes a path for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[\w./@:+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that regenerates the output, with the flags of {@link optionFlags}. XML comments may not
 * contain `--`, so formats with `shortFlags` use the short ones (`-f -p -o -P -d -C -L`), which the CLI
 * accepts as aliases.
 */
export function regenerateCommand(format: ExportFormatDescriptor, options: ExportOptions): string {
  const flag = (long: string, letter: string) => (format.shortFlags ? `-${letter}` : `--${long}`);
  const parts = ["npx keypin export", `${flag("format", "f")} ${format.name}`];
  const given = { ...options, source: options.source ?? "keypin.json" };
  for (const [option, { long, short, value }] of Object.entries(optionFlags)) {
    const v = given[option as keyof typeof optionFlags];
    if (value === "flag") {
      if (v === true) parts.push(flag(long, short));
    } else if (typeof v === "string") {
      parts.push(`${flag(long, short)} ${value === "path" ? shellQuote(v) : v}`);
    }
  }
  return parts.join(" ");
}

/** Wraps text at `width` columns on spaces; words longer than the width stay whole. */
function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * Every character XML 1.0 cannot hold (C0 controls but tab, LF and CR; U+FFFE, U+FFFF; unpaired
 * surrogates). expat (and so aapt2 and plistlib) refuses a document with one anywhere, comments included.
 */
const NOT_XML_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/**
 * Removes what could end a comment or a line early in the generated languages, or make an XML or plist
 * document unreadable: control, line-separator and non-XML characters (U+FFFE, U+FFFF, unpaired
 * surrogates), `*\/`, Java's `\u` escapes (processed even in comments) and, in XML, `--`. Every comment
 * text keypin writes (headers, pin labels, the source path) goes through it.
 */
export function sanitizeCommentText(text: string, xml = false): string {
  const cleaned = text
    .replace(NOT_XML_CHARACTER, " ")
    .replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, " ")
    .replaceAll("*/", "* /")
    .replaceAll("\\u", "\\ u");
  return xml ? cleaned.replace(/-(?=-)/g, "- ").replace(/-$/, "- ") : cleaned;
}

/**
 * The header every output starts with: where it comes from, how to regenerate it, the notes, and the
 * differences that `allowLossy` let through. Lines without comment markers.
 */
export function headerLines(
  format: ExportFormatDescriptor,
  options: ExportOptions,
  notes: string[],
  differences: string[],
): string[] {
  const source = options.source ?? "keypin.json";
  const short = format.shortFlags;
  const lines = [
    ...wrap(
      `Generated by keypin from ${source} (format ${format.name}). Do not edit by hand: change ${source}, then regenerate:`,
      100,
      "",
    ),
    `  ${options.regenerate ?? regenerateCommand(format, options)}`,
  ];
  if (notes.length > 0) {
    lines.push("", "Notes:");
    for (const note of notes) lines.push(...wrap(`- ${note}`, 100, "  "));
  }
  if (differences.length > 0) {
    lines.push(
      "",
      `DIFFERENCES from ${source}, written anyway because lossy export was allowed (${short ? `-${optionFlags.allowLossy.short}` : `--${optionFlags.allowLossy.long}`}):`,
    );
    for (const difference of differences) lines.push(...wrap(`- ${difference}`, 100, "  "));
  }
  return lines.map((l) => sanitizeCommentText(l, short).trimEnd());
}

/** A `//` comment block (Swift, Kotlin, Java, TypeScript). */
export function slashComment(lines: string[], indent = ""): string {
  return lines.map((l) => (l === "" ? `${indent}//` : `${indent}// ${l}`)).join("\n");
}

/** A trailing `// …` for a pin line, or nothing. */
export function trailingComment(key: PinnedKey): string {
  const text = describePin(key);
  return text === undefined ? "" : ` // ${sanitizeCommentText(text)}`;
}

/**
 * A double-quoted string literal for TypeScript, Java, Kotlin or Swift (Kotlin also escapes `$`, which
 * would start a template). keypin only writes printable ASCII here (hosts, pins, URLs).
 */
export function stringLiteral(value: string, language: "ts" | "java" | "kotlin" | "swift" = "ts"): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "$" && language === "kotlin") out += "\\$";
    else if (code < 0x20 || code > 0x7e)
      throw new RangeError(`Cannot write U+${code.toString(16)} in a literal.`);
    else out += ch;
  }
  return `${out}"`;
}

/**
 * The last check of an XML or plist document before it is returned: every character is one XML 1.0
 * allows. Inputs are validated and comments sanitized, so this never fires; if it did, the document would
 * break the app's build (aapt2, Xcode), and an error now is better.
 */
export function assertXmlCharacters(document: string, format: string): string {
  const index = document.search(NOT_XML_CHARACTER);
  if (index !== -1) {
    const code = document.codePointAt(index) ?? 0;
    throw new Error(
      `${format}: the document would hold U+${code.toString(16).toUpperCase().padStart(4, "0")} at index ${index}, which XML 1.0 does not allow`,
    );
  }
  return document;
}
