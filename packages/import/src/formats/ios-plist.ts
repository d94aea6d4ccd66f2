// iOS Info.plist (XML or binary): App Transport Security's NSPinnedDomains and TrustKit's TSKConfiguration.
import type { PinRole } from "@keypin/core";
import { Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { isCalendarDate, lastPinnedDay } from "../dates.js";
import { ImportError } from "../errors.js";
import { type PlistValue, parsePlist } from "../plist.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";

type Dict = Extract<PlistValue, { type: "dict" }>;

const atsPlatform = "iOS ATS";
const trustKitPlatform = "TrustKit";

function expect<T extends PlistValue["type"]>(
  value: PlistValue | undefined,
  type: T,
  what: string,
): Extract<PlistValue, { type: T }> | undefined {
  if (value === undefined) return undefined;
  if (value.type !== type) throw new ImportError(value.place, `${what} is a ${value.type}, not a ${type}`);
  return value as Extract<PlistValue, { type: T }>;
}

/**
 * Reads an iOS property list: `NSAppTransportSecurity/NSPinnedDomains` (leaf and CA identities,
 * `NSIncludesSubdomains`) and TrustKit's `TSKConfiguration` (`TSKPinnedDomains` with hashes, subdomains,
 * enforcement, expiry and report URIs). Either may be missing; a plist with both gives two sources.
 */
export function importIosPlist(bytes: Uint8Array, file: string): ImportedSource[] {
  const root = expect(parsePlist(bytes, file), "dict", "the plist's top value");
  if (root === undefined) return [];
  const sources: ImportedSource[] = [];
  const ats = expect(root.entries.get("NSAppTransportSecurity"), "dict", "NSAppTransportSecurity");
  const pinned = expect(ats?.entries.get("NSPinnedDomains"), "dict", "NSPinnedDomains");
  if (pinned !== undefined) sources.push(readAts(pinned, file));
  const tsk = expect(root.entries.get("TSKConfiguration"), "dict", "TSKConfiguration");
  if (tsk !== undefined) sources.push(readTrustKit(tsk, file));
  if (sources.length === 0) {
    throw new ImportError(
      root.place,
      "this plist has neither NSAppTransportSecurity/NSPinnedDomains nor TSKConfiguration: it pins nothing keypin can read",
    );
  }
  return sources;
}

/** A key named twice in one pinning dict: which value the platform keeps is not keypin's guess to make. */
function refuseRepeatedKeys(dict: Dict, what: string): void {
  const first = dict.repeated?.[0];
  if (first === undefined) return;
  throw new ImportError(
    first.place,
    `${what} names the key ${short(first.key)} twice; keypin does not guess which entry the app uses: keep one`,
  );
}

/**
 * The not-applied finding for a key the platform never applies to `host` (keypin's spelling), or false when it
 * does apply it.
 */
function notApplied(
  findings: Findings,
  name: string,
  host: string,
  place: Place,
  platform: "ats" | "trustkit",
): boolean {
  const spelling = spellingProblem(name, host, "literal");
  if (spelling === undefined) return false;
  findings.add(
    "not-applied",
    place,
    platform === "trustkit"
      ? `TSKPinnedDomains key ${short(name)} has ${spelling}: TrustKit looks the host the app connects to (${short(host)}) up as an exact dictionary key, so it never applies this entry's pins to ${host}, which is not pinned by TrustKit; not imported (write the key as ${short(host)} to pin it)`
      : `NSPinnedDomains key ${short(name)} has ${spelling}: keypin reads ATS keys as written (ATS is closed source: whether iOS applies this key to ${host} is not verified), so its pins are not imported as ${host}'s and ${host} counts as not pinned by ATS (write the key as ${short(host)})`,
    host,
  );
  return true;
}

function readAts(pinned: Dict, file: string): ImportedSource {
  const findings = new Findings();
  const domains: ImportedDomain[] = [];
  refuseRepeatedKeys(pinned, "NSPinnedDomains");
  for (const [name, value] of pinned.entries) {
    const entry = expect(value, "dict", `NSPinnedDomains/${name}`)!;
    const host = readHost(name);
    if (host === undefined)
      throw new ImportError(entry.place, `NSPinnedDomains key ${short(name)} is not a host name`);
    const include =
      expect(entry.entries.get("NSIncludesSubdomains"), "boolean", "NSIncludesSubdomains")?.value ?? false;
    const pins: ImportedPin[] = [];
    const categories: string[] = [];
    for (const [key, role] of [
      ["NSPinnedLeafIdentities", "leaf"],
      ["NSPinnedCAIdentities", "intermediate"],
    ] as const) {
      const list = expect(entry.entries.get(key), "array", `${name}/${key}`);
      if (list === undefined) continue;
      if (list.items.length > 0) categories.push(key);
      for (const item of list.items) {
        const identity = expect(item, "dict", `an item of ${key}`)!;
        const b64 = expect(identity.entries.get("SPKI-SHA256-BASE64"), "string", "SPKI-SHA256-BASE64");
        if (b64 === undefined) {
          findings.add(
            "unreadable",
            identity.place,
            `an item of ${key} for ${host} has no SPKI-SHA256-BASE64; skipped`,
            host,
            "pins",
          );
          continue;
        }
        addPin(pins, b64.value, role, b64.place, findings, host);
      }
    }
    if (pins.length === 0) {
      findings.add("dropped", entry.place, `NSPinnedDomains/${name} has no pins; not imported`, host);
      continue;
    }
    if (notApplied(findings, name, host, entry.place, "ats")) continue;
    if (categories.includes("NSPinnedCAIdentities")) {
      findings.add(
        "changed",
        entry.place,
        `${host}'s NSPinnedCAIdentities are imported with role intermediate (ATS does not say whether a CA key is an intermediate or a root)`,
        host,
        ["pins", pins.findIndex((p) => p.role === "intermediate"), "role"],
      );
    }
    if (categories.length === 2) {
      findings.add(
        "changed",
        entry.place,
        `${host} pins leaf and CA identities: ATS requires a match in each category, keypin accepts any one pin (wider)`,
        host,
        "pins",
      );
    }
    if (include) {
      findings.add(
        "changed",
        entry.place,
        `NSIncludesSubdomains covers one more label only (x.${host}); imported as includeSubdomains, which keypin applies at any depth (a.b.${host} is pinned too)`,
        host,
        "includeSubdomains",
      );
    }
    domains.push({
      domain: host,
      includeSubdomains: include,
      pins,
      mode: "enforce",
      reportUris: [],
      place: entry.place,
    });
  }
  return {
    file,
    format: "ios-plist",
    platform: atsPlatform,
    domains,
    findings: findings.list,
    expresses: { expires: false, reportUris: false, reportOnly: false },
  };
}

function addPin(
  pins: ImportedPin[],
  text: string,
  role: PinRole | undefined,
  place: Place,
  findings: Findings,
  host: string,
): void {
  if (text.trim() !== text) {
    // readPin trims (as OkHttp and Android read pins); CFPropertyList keeps a <string>'s white space and the
    // platform's base64 decoder refuses it.
    findings.add(
      "dropped",
      place,
      `${short(text)} has white space around it, which the plist keeps (CFPropertyList does not trim a string), so it is not the base64 of a SHA-256 digest there; not imported for ${host}`,
      host,
      "pins",
    );
    return;
  }
  const read = readPin(text);
  if ("problem" in read) {
    findings.add("dropped", place, `${read.problem}; not imported for ${host}`, host, "pins");
    return;
  }
  if (pins.some((p) => p.pin === read.pin)) return;
  pins.push(role === undefined ? { pin: read.pin, place } : { pin: read.pin, role, place });
}

function readTrustKit(tsk: Dict, file: string): ImportedSource {
  const findings = new Findings();
  const domains: ImportedDomain[] = [];
  const pinned = expect(tsk.entries.get("TSKPinnedDomains"), "dict", "TSKPinnedDomains");
  if (pinned === undefined) {
    findings.add("dropped", tsk.place, "TSKConfiguration has no TSKPinnedDomains: nothing is pinned");
  }
  if (pinned !== undefined) refuseRepeatedKeys(pinned, "TSKPinnedDomains");
  for (const [name, value] of pinned?.entries ?? []) {
    const entry = expect(value, "dict", `TSKPinnedDomains/${name}`)!;
    const host = readHost(name);
    if (host === undefined)
      throw new ImportError(entry.place, `TSKPinnedDomains key ${short(name)} is not a host name`);
    const bool = (key: string) => expect(entry.entries.get(key), "boolean", `${name}/${key}`)?.value;
    // TrustKit's constant kTSKExcludeSubdomainFromParentPolicy is the string "kSKExcludeSubdomainFromParentPolicy".
    if (
      bool("kSKExcludeSubdomainFromParentPolicy") === true ||
      bool("TSKExcludeSubdomainFromParentPolicy") === true
    ) {
      findings.add(
        "dropped",
        entry.place,
        `${host} has TSKExcludeSubdomainFromParentPolicy (TrustKit does not pin it); keypin cannot exempt a subdomain, so a parent entry's includeSubdomains pins would apply to it`,
        host,
      );
      continue;
    }
    const pins: ImportedPin[] = [];
    const hashes = expect(entry.entries.get("TSKPublicKeyHashes"), "array", `${name}/TSKPublicKeyHashes`);
    for (const item of hashes?.items ?? []) {
      const b64 = expect(item, "string", `an item of ${name}/TSKPublicKeyHashes`)!;
      addPin(pins, b64.value, undefined, b64.place, findings, host);
    }
    if (pins.length === 0) {
      findings.add(
        "dropped",
        entry.place,
        `TSKPinnedDomains/${name} has no TSKPublicKeyHashes; not imported`,
        host,
      );
      continue;
    }
    if (notApplied(findings, name, host, entry.place, "trustkit")) continue;
    if (pins.length < 2) {
      findings.add(
        "changed",
        entry.place,
        `TrustKit refuses to start with fewer than two pins for ${host} (${pins.length} here); imported as is`,
        host,
        "pins",
      );
    }
    const enforce = bool("TSKEnforcePinning") ?? true;
    const domain: ImportedDomain = {
      domain: host,
      includeSubdomains: bool("TSKIncludeSubdomains") ?? false,
      pins,
      mode: enforce ? "enforce" : "report-only",
      reportUris: [],
      place: entry.place,
    };
    const expiration = entry.entries.get("TSKExpirationDate");
    if (expiration !== undefined) {
      const text = expiration.type === "string" ? expiration.value : undefined;
      if (text === undefined || !isCalendarDate(text)) {
        throw new ImportError(
          expiration.place,
          `TSKExpirationDate for ${host} must be a yyyy-MM-dd string (TrustKit refuses anything else)`,
        );
      }
      domain.expires = lastPinnedDay(text)!;
    }
    const uris = expect(entry.entries.get("TSKReportUris"), "array", `${name}/TSKReportUris`);
    for (const item of uris?.items ?? []) {
      const uri = expect(item, "string", `an item of ${name}/TSKReportUris`)!;
      if (!domain.reportUris.includes(uri.value)) domain.reportUris.push(uri.value);
    }
    if (bool("TSKDisableDefaultReportUri") === false) {
      findings.add(
        "dropped",
        entry.place,
        `TSKDisableDefaultReportUri is false: TrustKit's own default report URI is not carried over (only ${host}'s TSKReportUris are)`,
        host,
        "reportUris",
      );
    }
    if (entry.entries.has("TSKPublicKeyAlgorithms")) {
      findings.add(
        "dropped",
        entry.entries.get("TSKPublicKeyAlgorithms")!.place,
        "TSKPublicKeyAlgorithms (TrustKit 1.x) is ignored: keypin pins the whole SubjectPublicKeyInfo, whatever its algorithm",
        host,
      );
    }
    domains.push(domain);
  }
  return {
    file,
    format: "ios-plist",
    platform: trustKitPlatform,
    domains,
    findings: findings.list,
    expresses: { expires: true, reportUris: true, reportOnly: true },
  };
}
