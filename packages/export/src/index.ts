export { checkDebugProxyCa } from "./debug-proxy-ca.js";
export { ExportOptionError, LossyExportError } from "./errors.js";
export { exportPolicy } from "./export-policy.js";
export { type ExportFormatDescriptor, type FormatOption, formatOptions, optionFlags } from "./format.js";
export { androidManifestAttribute, rawResourceName } from "./formats/android-nsc.js";
export { type AtsPinnedDomain, buildAtsPinnedDomains } from "./formats/ios-ats.js";
export { okhttpDoubleWildcardMinVersion } from "./okhttp.js";
export {
  type ExportFormat,
  exportFormatDescriptor,
  exportFormatDescriptors,
  exportFormats,
} from "./registry.js";
export type { ExportLoss, ExportOptions, ExportResult } from "./types.js";
