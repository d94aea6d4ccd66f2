import type { Policy } from "@keypin/core";
import { assertNoAndroidOptions, exportAndroidNsc } from "./android-nsc.js";
import { exportIosAts } from "./ios-ats.js";
import { exportNode } from "./node.js";
import { exportOkHttpJava, exportOkHttpKotlin } from "./okhttp.js";
import { exportReactNative } from "./react-native.js";
import { exportTrustKit } from "./trustkit.js";
import type { ExportFormat, ExportOptions, ExportResult } from "./types.js";

/**
 * Turns a validated policy into one platform's pinning configuration. Faithful or loud: when the platform
 * cannot express the policy exactly, it throws a `LossyExportError` (code `ERR_KEYPIN_LOSSY_EXPORT`) naming
 * each field and the platform, unless `allowLossy` is set, in which case every difference is listed in
 * the output's header and in `differences`. The output is deterministic (no dates, no versions), so it can
 * be compared with a committed file to detect drift.
 *
 * @example
 * ```ts
 * import { exportPolicy } from "@keypin/export";
 * import { loadPolicyFile } from "@keypin/node";
 *
 * const { policy } = await loadPolicyFile("keypin.json");
 * const { content, notes } = exportPolicy(policy, "android-nsc", { source: "keypin.json" });
 * await writeFile("app/src/main/res/xml/network_security_config.xml", content);
 * for (const note of notes) console.error(note);
 * ```
 */
export function exportPolicy(
  policy: Policy,
  format: ExportFormat,
  options: ExportOptions = {},
): ExportResult {
  if (format !== "android-nsc") assertNoAndroidOptions(format, options);
  switch (format) {
    case "android-nsc":
      return exportAndroidNsc(policy, options);
    case "ios-ats":
      return exportIosAts(policy, options);
    case "trustkit":
      return exportTrustKit(policy, options);
    case "okhttp-kotlin":
      return exportOkHttpKotlin(policy, options);
    case "okhttp-java":
      return exportOkHttpJava(policy, options);
    case "react-native":
      return exportReactNative(policy, options);
    case "node":
      return exportNode(policy, options);
    default: {
      const never: never = format;
      throw new TypeError(`Unknown export format ${String(never)}.`);
    }
  }
}
