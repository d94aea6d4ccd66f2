// The plain-data types of @keypin/import. Re-exported from index.ts.
import type { Pin, PinRole } from "@keypin/core";

/**
 * A file format {@link importFile} reads.
 *
 * @example
 * ```ts
 * const format: ImportFormat = "android-nsc";
 * ```
 */
export type ImportFormat = "android-nsc" | "ios-plist" | "okhttp-kotlin" | "okhttp-java" | "react-native";

/**
 * Every format {@link importFile} knows.
 *
 * @example
 * ```ts
 * console.log(`formats: ${importFormats.join(", ")}`);
 * ```
 */
export const importFormats: readonly ImportFormat[] = [
  "android-nsc",
  "ios-plist",
  "okhttp-kotlin",
  "okhttp-java",
  "react-native",
];

/**
 * Where something is in an imported file: a 1-based line for text files, a key path (`NSAppTransportSecurity/…`)
 * for binary plists, which have no lines.
 *
 * @example
 * ```ts
 * const place: Place = { file: "app/src/main/res/xml/network_security_config.xml", line: 12 };
 * console.log(formatPlace(place)); // "app/src/main/res/xml/network_security_config.xml:12"
 * ```
 */
export interface Place {
  file: string;
  line?: number;
  /** A key path inside a binary plist, where there are no lines. */
  keyPath?: string;
}

/**
 * One pin as read from a file.
 *
 * @example
 * ```ts
 * const pin: ImportedPin = { pin: "sha256/…", role: "leaf", place: { file: "Info.plist", line: 20 } };
 * ```
 */
export interface ImportedPin {
  pin: Pin;
  /** Only where the format says it: iOS ATS leaf identities are `leaf`, CA identities have no role keypin can name. */
  role?: PinRole;
  place: Place;
}

/**
 * One pinned domain as read from a file, already converted to keypin's meaning (the closest one, when the
 * platform's is wider or narrower: the source's `findings` say what changed).
 *
 * @example
 * ```ts
 * const d: ImportedDomain = {
 *   domain: "api.myapp.com", includeSubdomains: false, pins: [], mode: "enforce", reportUris: [],
 *   place: { file: "network_security_config.xml", line: 4 },
 * };
 * ```
 */
export interface ImportedDomain {
  /** Canonical (lowercase, no trailing dot). */
  domain: string;
  includeSubdomains: boolean;
  pins: ImportedPin[];
  /** keypin's meaning: the last day (UTC) the pins hold. */
  expires?: string;
  mode: "enforce" | "report-only";
  reportUris: string[];
  place: Place;
}

/**
 * Something an importer could not carry over exactly, or could not read.
 * - `changed`: imported with the closest keypin meaning; `message` says what differs.
 * - `dropped`: left out of the policy (debug-overrides, a bypass, a SHA-1 pin, a domain without pins).
 * - `unreadable`: a part keypin cannot read statically (a computed pattern, a pin built at run time); nothing was guessed.
 * - `not-applied`: an entry the platform never applies to the host keypin would read it as, because the platform
 *   compares that spelling literally (`<domain>api.myapp.com.</domain>` on Android, a TrustKit key in capitals):
 *   the app does not pin `domain` there. Not imported, and {@link compareSources} makes it a difference, so
 *   `keypin import --check` fails.
 *
 * @example
 * ```ts
 * for (const f of source.findings) console.error(`${formatPlace(f.place)}: ${f.kind}: ${f.message}`);
 * ```
 */
export interface ImportFinding {
  kind: "changed" | "dropped" | "unreadable" | "not-applied";
  place: Place;
  message: string;
  /** The domain concerned, canonical, when there is one. */
  domain?: string;
  /** The policy field concerned, as a JSON Pointer (`/domains/api.myapp.com/expires`), when there is one. */
  path?: string;
}

/**
 * What one platform's configuration in a file says: an Info.plist can hold two (ATS and TrustKit).
 * `expresses` lists the policy fields the platform can say at all: only those are compared by `--check`.
 *
 * @example
 * ```ts
 * const [source] = importFile("network_security_config.xml", text).sources;
 * console.log(source.platform, source.domains.length);
 * ```
 */
export interface ImportedSource {
  file: string;
  format: ImportFormat;
  /** A short name for messages: `Android`, `iOS ATS`, `TrustKit`, `OkHttp`, `React Native`. */
  platform: string;
  domains: ImportedDomain[];
  findings: ImportFinding[];
  expresses: Expressible;
}

/**
 * The policy fields a platform can express. A field it cannot express is never a difference.
 *
 * @example
 * ```ts
 * const nsc: Expressible = { expires: true, reportUris: false, reportOnly: false };
 * ```
 */
export interface Expressible {
  expires: boolean;
  reportUris: boolean;
  /** Whether it has a report-only mode (without one, a report-only domain is simply not there). */
  reportOnly: boolean;
}

/**
 * What {@link importFile} returns: the sources found in the file (none when it pins nothing).
 *
 * @example
 * ```ts
 * const { sources } = importFile("ios/App/Info.plist", bytes);
 * ```
 */
export interface ImportResult {
  file: string;
  format: ImportFormat;
  sources: ImportedSource[];
}
