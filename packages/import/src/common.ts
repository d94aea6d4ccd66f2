// Helpers shared by the format readers.
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
