// Helpers shared by the exporters: JSON Pointers, host relations, dates, losses, and the generated header.
import { type DomainPolicy, isIpAddress, type PinnedKey } from "@keypin/core";
import { LossyExportError } from "./errors.js";
import type { ExportFormat, ExportLoss, ExportOptions } from "./types.js";

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
  format: ExportFormat,
  platform: string,
  losses: ExportLoss[],
  options: ExportOptions,
): string[] {
  if (losses.length === 0) return [];
  const source = options.source ?? "keypin.json";
  if (!options.allowLossy || losses.some((l) => l.blocking)) {
    throw new LossyExportError(format, platform, losses, source);
  }
  return losses.map((l) => `${l.path}: ${l.problem} ${l.consequence}`);
}

/** Quotes a path for a POSIX shell when it needs it. */
function shellQuote(value: string): string {
  return /^[\w./@:+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that regenerates the output. XML comments may not contain `--`, so XML formats use the
 * short flags (`-f -p -o -P -d -C -L`), which the CLI accepts as aliases.
 */
export function regenerateCommand(format: ExportFormat, options: ExportOptions, short: boolean): string {
  const flag = (long: string, letter: string) => (short ? `-${letter}` : `--${long}`);
  const parts = ["npx keypin export", `${flag("format", "f")} ${format}`];
  parts.push(`${flag("policy", "p")} ${shellQuote(options.source ?? "keypin.json")}`);
  if (options.out !== undefined) parts.push(`${flag("out", "o")} ${shellQuote(options.out)}`);
  if (options.packageName !== undefined) parts.push(`${flag("package", "P")} ${options.packageName}`);
  if (options.debugProxyCa !== undefined) {
    parts.push(`${flag("debug-proxy-ca", "d")} ${shellQuote(options.debugProxyCa)}`);
  }
  if (options.cleartextTrafficPermitted === true) parts.push(flag("allow-cleartext", "C"));
  if (options.allowLossy) parts.push(flag("allow-lossy", "L"));
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
 * Removes what could end a comment or a line early in the generated languages: control and line-separator
 * characters, `*\/`, Java's `\u` escapes (processed even in comments) and, in XML, `--`.
 */
export function sanitizeCommentText(text: string, xml = false): string {
  const cleaned = text
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
  format: ExportFormat,
  options: ExportOptions,
  notes: string[],
  differences: string[],
  short: boolean,
): string[] {
  const source = options.source ?? "keypin.json";
  const lines = [
    ...wrap(
      `Generated by keypin from ${source} (format ${format}). Do not edit by hand: change ${source}, then regenerate:`,
      100,
      "",
    ),
    `  ${options.regenerate ?? regenerateCommand(format, options, short)}`,
  ];
  if (notes.length > 0) {
    lines.push("", "Notes:");
    for (const note of notes) lines.push(...wrap(`- ${note}`, 100, "  "));
  }
  if (differences.length > 0) {
    lines.push(
      "",
      `DIFFERENCES from ${source}, written anyway because lossy export was allowed (${short ? "-L" : "--allow-lossy"}):`,
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
