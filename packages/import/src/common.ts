// Helpers shared by the format readers.
import { domainToASCII } from "node:url";
import { isIpAddress, normalizeHost, type Pin, parsePin } from "@keypin/core";
import type { ImportFinding, Place } from "./types.js";

/** JSON Pointer of a field of a domain entry in the imported policy. */
export function domainPointer(domain: string, ...parts: (string | number)[]): string {
  const esc = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");
  return ["", "domains", domain, ...parts.map(String)].map(esc).join("/");
}

/** A SHA-256 pin in any form keypin reads, or undefined (with the reason) when it is not one. */
export function readPin(text: string): { pin: Pin } | { problem: string } {
  const trimmed = text.trim();
  if (/^sha1\//i.test(trimmed)) {
    return { problem: `${short(trimmed)} is a SHA-1 pin; keypin pins SHA-256 of the public key only` };
  }
  try {
    return { pin: parsePin(trimmed) };
  } catch {
    return { problem: `${short(trimmed)} is not a SHA-256 pin (sha256/ + base64 of 32 bytes)` };
  }
}

/** A host name as keypin writes it, or undefined when `text` is not one (a wildcard, a URL, empty). */
export function readHost(text: string): string | undefined {
  const t = text.trim();
  if (t === "" || /[\s/*?#@]/.test(t) || t.includes("://")) return undefined;
  const host = normalizeHost(t);
  if (host === "" || (!isIpAddress(host) && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host))) return undefined;
  return host;
}

/**
 * How a platform compares a configured host name with the host the app connects to (lowercase ASCII, no
 * trailing dot, as keypin writes hosts):
 * - `android`: the `<domain>` text trimmed (Java's `String.trim`: code points up to U+0020) and lowercased
 *   (XmlConfigSource), compared with `equals` to the looked-up host, whose trailing dot alone is removed
 *   (ApplicationConfig.getConfigForHostname);
 * - `literal`: the key as written (TrustKit looks the host up as an exact NSDictionary key; ATS is closed source,
 *   so keypin reads its NSPinnedDomains keys the same way: the reading that never claims a pin iOS may not apply);
 * - `okhttp`: CertificatePinner's canonical host: IDNA to ASCII (fullwidth dots become dots) and lowercase, the
 *   trailing dot kept, an IPv4 address not re-read (OkHttp 4.12, measured: "api.example.com." and "0x7f.1" match
 *   neither api.example.com nor 127.0.0.1; a pattern with white space is refused, "Invalid pattern").
 */
export type HostComparison = "android" | "literal" | "okhttp";

/** The configured text as the platform compares it (see {@link HostComparison}). */
export function asPlatformCompares(text: string, comparison: HostComparison): string {
  if (comparison === "literal") return text;
  if (comparison === "okhttp") {
    if (/\s/.test(text)) return text;
    if (text.includes(":")) return normalizeHost(text); // IPv6: both read it as an address
    return /^[\u0000-\u007f]*$/.test(text) ? text.toLowerCase() : domainToASCII(text);
  }
  return text.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "").toLowerCase();
}

/**
 * Undefined when the platform applies the entry written `text` to `host` (keypin's spelling of it); otherwise
 * why it does not: a trailing dot, capitals, spaces, Unicode or fullwidth dots, an IPv4 address in another
 * form. keypin then must not import the entry as `host`'s pins: the app does not pin `host` there.
 */
export function spellingProblem(text: string, host: string, comparison: HostComparison): string | undefined {
  const compared = asPlatformCompares(text, comparison);
  if (compared === host) return undefined;
  const why: string[] = [];
  if (/\.\s*$/.test(compared)) why.push("a trailing dot");
  if (compared.trim() !== compared)
    why.push(
      comparison === "android"
        ? "white space Java's trim keeps"
        : comparison === "okhttp"
          ? "white space (OkHttp refuses the pattern: Invalid pattern)"
          : "spaces",
    );
  if (/[A-Z]/.test(compared)) why.push("capitals");
  if (/[\u3002\uff0e\uff61]/.test(compared)) why.push("a fullwidth or ideographic dot");
  if (/[^\u0000-\u007f]/.test(compared.replace(/[\u3002\uff0e\uff61]/g, "")))
    why.push("non-ASCII characters (the app connects to the ASCII form)");
  if (why.length === 0) why.push("another spelling of the address or name");
  return why.join(", ");
}

/** A value shown in a message: quoted, at most 60 characters. */
export function short(value: string): string {
  const json = JSON.stringify(value);
  return json.length > 62 ? `${json.slice(0, 58)}…"` : json;
}

/** Collects findings for one source. */
export class Findings {
  readonly list: ImportFinding[] = [];

  add(
    kind: ImportFinding["kind"],
    place: Place,
    message: string,
    domain?: string,
    field?: string | (string | number)[],
  ): void {
    const finding: ImportFinding = { kind, place, message };
    if (domain !== undefined) finding.domain = domain;
    const parts = field === undefined ? [] : Array.isArray(field) ? field : [field];
    if (domain !== undefined) finding.path = domainPointer(domain, ...parts);
    this.list.push(finding);
  }
}
