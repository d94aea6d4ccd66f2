export { androidManifestAttribute, rawResourceName } from "./android-nsc.js";
export { checkDebugProxyCa } from "./debug-proxy-ca.js";
export { ExportOptionError, LossyExportError } from "./errors.js";
export { exportPolicy } from "./export-policy.js";
export { type AtsPinnedDomain, buildAtsPinnedDomains } from "./ios-ats.js";
export { okhttpDoubleWildcardMinVersion } from "./okhttp.js";
export {
  type ExportFormat,
  type ExportLoss,
  type ExportOptions,
  type ExportResult,
  exportFormats,
} from "./types.js";
