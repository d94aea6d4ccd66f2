// The pin set of a scenario rendered for each platform by @keypin/export, with the places where the platform
// behaves differently from keypin: @keypin/export's own differences (an expiry ATS or OkHttp drops, ATS's AND
// rule of leaf and CA identities) and notes (Android's expiration switching pinning off), and the few facts it
// does not say because they are no difference.
import { basename } from "node:path";
import { isKeypinError, type PolicyFile, parsePolicy } from "@keypin/core";
import {
  type ExportFormat,
  type ExportFormatDescriptor,
  exportFormatDescriptor,
  exportFormatDescriptors,
  exportPolicy,
  LossyExportError,
} from "@keypin/export";

/** One platform's configuration for the pin set in play. */
export interface PlatformConfig {
  id: ExportFormat;
  label: string;
  /** The language of `text`, for highlighting (`xml`, `kotlin`, `swift`, `typescript`). */
  language: string;
  /** Where the file usually goes, its base name. */
  filename: string;
  /** The configuration; empty when the platform cannot express the pin set at all (`notes` says why). */
  text: string;
  /** What @keypin/export could not keep (each with what was written instead). */
  differences: string[];
  /** Where the platform behaves differently, then how to install the file. */
  notes: string[];
}

interface PlatformDescriptor {
  id: ExportFormat;
  label: string;
  language: string;
  /** Behaviour worth saying beside this platform's config that @keypin/export reports nowhere. */
  facts: string[];
}

/** How the page shows the formats it says more about, in its order (the other formats follow, see below). */
const presented: readonly PlatformDescriptor[] = [
  { id: "android-nsc", label: "Android: network security config <pin-set>", language: "xml", facts: [] },
  {
    id: "okhttp-kotlin",
    label: "Android: OkHttp CertificatePinner",
    language: "kotlin",
    facts: [
      "CertificatePinner accepts a chain that carries any one of the host's pins (any of), as keypin does; it does not ask for a leaf and a CA match as iOS ATS does.",
    ],
  },
  { id: "ios-ats", label: "iOS: NSPinnedDomains (Info.plist)", language: "xml", facts: [] },
  { id: "trustkit", label: "iOS: TrustKit", language: "swift", facts: [] },
  { id: "react-native", label: "React Native", language: "typescript", facts: [] },
  { id: "node", label: "Node (@keypin/node)", language: "typescript", facts: [] },
];

/** The formats the page leaves out, each with why. */
export const notShownFormats: Readonly<Partial<Record<ExportFormat, string>>> = {
  "okhttp-java": "the same OkHttp CertificatePinner as okhttp-kotlin, written in Java",
};

/** The language of a file, by its extension, for highlighting (`text` for one not known here). */
const languages: Readonly<Record<string, string>> = {
  xml: "xml",
  plist: "xml",
  kt: "kotlin",
  java: "java",
  swift: "swift",
  ts: "typescript",
  js: "javascript",
  json: "json",
};

/**
 * The platforms the page shows for these export formats: the presented ones in the page's order, then every
 * other format (but the {@link notShownFormats}) in the registry's order, under its platform's name.
 *
 * @example
 * platformsOf(exportFormatDescriptors).map((p) => p.id); // ["android-nsc", "okhttp-kotlin", "ios-ats", …]
 */
export function platformsOf(
  descriptors: readonly ExportFormatDescriptor<ExportFormat>[],
): PlatformDescriptor[] {
  const known = new Set(descriptors.map((d) => d.name));
  const rest = descriptors
    .filter((d) => !presented.some((p) => p.id === d.name) && notShownFormats[d.name] === undefined)
    .map((d) => ({
      id: d.name,
      label: d.platform,
      language: languages[d.defaultOut.slice(d.defaultOut.lastIndexOf(".") + 1)] ?? "text",
      facts: [],
    }));
  return [...presented.filter((p) => known.has(p.id)), ...rest];
}

/** The platforms the page shows, in its order: every export format but the {@link notShownFormats}. */
export const labPlatforms: readonly PlatformDescriptor[] = platformsOf(exportFormatDescriptors);

/**
 * The pin set rendered for every platform of {@link labPlatforms}. A platform that cannot express it at all (a
 * blocking loss) gets an empty `text` and the reason in `notes`.
 *
 * @example
 * const platforms = renderPlatforms(policyOfScenario(run.events, 3)!);
 * platforms.find((p) => p.id === "ios-ats")?.differences;
 */
export function renderPlatforms(file: PolicyFile): PlatformConfig[] {
  // Validated as keypin would load it; an expired pin set is a warning (the app no longer pins), not an error.
  const { policy } = parsePolicy(file);
  return labPlatforms.map(({ id, label, language, facts }) => {
    const filename = basename(exportFormatDescriptor(id)?.defaultOut ?? id);
    try {
      const result = exportPolicy(policy, id, { allowLossy: true, source: "keypin.json" });
      return {
        id,
        label,
        language,
        filename,
        text: result.content,
        differences: result.differences,
        notes: [...result.differences, ...facts, ...result.notes],
      };
    } catch (error) {
      if (
        !(error instanceof LossyExportError) &&
        !(isKeypinError(error) && error.code === "ERR_KEYPIN_LOSSY_EXPORT")
      ) {
        throw error;
      }
      const losses = (error as LossyExportError).losses.map(
        (l) => `${l.path}: ${l.problem} ${l.consequence}`,
      );
      return {
        id,
        label,
        language,
        filename,
        text: "",
        differences: losses,
        notes: [`${label} cannot express this pin set: ${error.message}`, ...facts],
      };
    }
  });
}
