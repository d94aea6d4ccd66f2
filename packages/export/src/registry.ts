// Everything derived from the list of formats in formats/index.ts.
import type { ExportFormatDescriptor } from "./format.js";
import { formats } from "./formats/index.js";

/**
 * A target platform of {@link exportPolicy}: the name of one of {@link exportFormatDescriptors}.
 *
 * @example
 * ```ts
 * const format: ExportFormat = "android-nsc";
 * ```
 */
export type ExportFormat = (typeof formats)[number]["name"];

/**
 * Every format {@link exportPolicy} knows, with its platform, the options it takes and where its file
 * usually goes, in the order the CLI lists them.
 *
 * @example
 * ```ts
 * for (const f of exportFormatDescriptors) console.log(`${f.name}: ${f.platform} (${f.defaultOut})`);
 * ```
 */
export const exportFormatDescriptors: readonly ExportFormatDescriptor<ExportFormat>[] = formats;

/**
 * The names of every format {@link exportPolicy} knows, in the order the CLI lists them.
 *
 * @example
 * ```ts
 * if (!exportFormats.includes(input as ExportFormat)) throw new Error(`unknown format ${input}`);
 * ```
 */
export const exportFormats: readonly ExportFormat[] = formats.map((f) => f.name);

/**
 * The descriptor of a format, or undefined for a name that is not one.
 *
 * @example
 * ```ts
 * exportFormatDescriptor("okhttp-java")?.options; // ["packageName"]
 * ```
 */
export function exportFormatDescriptor(name: string): ExportFormatDescriptor<ExportFormat> | undefined {
  return exportFormatDescriptors.find((f) => f.name === name);
}
