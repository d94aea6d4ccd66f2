// @keypin/import: the public API.
export { compareSources, type Difference } from "./compare.js";
export { ImportError } from "./errors.js";
export { detectFormat, importFile } from "./import-file.js";
export { defaultSchema, mergeSources } from "./merge.js";
export { formatPlace } from "./place.js";
export {
  type Expressible,
  type ImportedDomain,
  type ImportedPin,
  type ImportedSource,
  type ImportFinding,
  type ImportFormat,
  type ImportResult,
  importFormats,
  type Place,
} from "./types.js";
