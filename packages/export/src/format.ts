// What an export format is: one descriptor per format (in formats/<name>.ts), registered in formats/index.ts.
import type { Policy } from "@keypin/core";
import type { ExportOptions, ExportResult } from "./types.js";

/**
 * The options only some formats take. {@link exportPolicy} refuses one given to a format whose descriptor
 * does not list it; the others (`allowLossy`, `source`, `out`, `regenerate`) apply to every format.
 *
 * @example
 * ```ts
 * const option: FormatOption = "packageName";
 * ```
 */
export type FormatOption = (typeof formatOptions)[number];

/**
 * Every {@link FormatOption}, in the order {@link exportPolicy} checks them.
 *
 * @example
 * ```ts
 * const unused = formatOptions.filter((o) => !descriptor.options.includes(o));
 * ```
 */
export const formatOptions = ["debugProxyCa", "auditCa", "cleartextTrafficPermitted", "packageName"] as const;

/**
 * One export format: everything the library, the CLI, the generated header and the tests need to know
 * about it. Adding a format is a new `formats/<name>.ts` exporting one of these, and one line in
 * `formats/index.ts`.
 *
 * @example
 * ```ts
 * export const yaml = defineExportFormat({
 *   name: "yaml",
 *   platform: "YAML",
 *   options: [],
 *   defaultOut: "pins.yaml",
 *   shortFlags: false,
 *   export: (policy, options) => ({ content: "…", differences: [], notes: [] }),
 * });
 * ```
 */
export interface ExportFormatDescriptor<Name extends string = string> {
  /** What `exportPolicy` and `keypin export --format` take, e.g. `android-nsc`. */
  readonly name: Name;
  /** The platform's name, as losses and error messages say it, e.g. `Android Network Security Config`. */
  readonly platform: string;
  /** The {@link FormatOption}s it takes; every other one is refused (library and CLI alike). */
  readonly options: readonly FormatOption[];
  /** Where the file usually goes in an app's repository (examples, tests). */
  readonly defaultOut: string;
  /**
   * Whether the header's regenerate command uses the short flags (`-f -p -o …`): XML comments may not
   * contain `--`.
   */
  readonly shortFlags: boolean;
  /** Writes the policy in this format: faithful, or a `LossyExportError` unless `allowLossy`. */
  readonly export: (policy: Policy, options: ExportOptions) => ExportResult;
}

/**
 * Declares a format, keeping its name as a literal type (so `ExportFormat` is the union of the names).
 *
 * @example
 * ```ts
 * export const node = defineExportFormat({ name: "node", platform: "@keypin/node", … });
 * ```
 */
export function defineExportFormat<const Name extends string>(
  descriptor: ExportFormatDescriptor<Name>,
): ExportFormatDescriptor<Name> {
  return descriptor;
}

/**
 * The `keypin export` flag of each option, in the order the regenerate command writes them: `long` after `--`,
 * `short` after `-` (the XML headers use those), and whether it takes a value (`path` is shell-quoted).
 *
 * @example
 * ```ts
 * `--${optionFlags.packageName.long}`; // "--package"
 * ```
 */
export const optionFlags = {
  source: { long: "policy", short: "p", value: "path" },
  out: { long: "out", short: "o", value: "path" },
  packageName: { long: "package", short: "P", value: "word" },
  debugProxyCa: { long: "debug-proxy-ca", short: "d", value: "path" },
  auditCa: { long: "audit-ca", short: "A", value: "path" },
  cleartextTrafficPermitted: { long: "allow-cleartext", short: "C", value: "flag" },
  allowLossy: { long: "allow-lossy", short: "L", value: "flag" },
} as const satisfies Record<
  Exclude<keyof ExportOptions, "regenerate">,
  { long: string; short: string; value: "path" | "word" | "flag" }
>;
