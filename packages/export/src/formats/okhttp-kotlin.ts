// OkHttp CertificatePinner, as Kotlin source.
import type { Policy } from "@keypin/core";
import { slashComment } from "../common.js";
import { defineExportFormat } from "../format.js";
import { addCalls, okhttpPlatform, packageLine, planOkHttp } from "../okhttp.js";
import type { ExportOptions, ExportResult } from "../types.js";

/**
 * `okhttp-kotlin`: `object PinningConfig { val certificatePinner }` for OkHttp's CertificatePinner.
 *
 * @example
 * ```ts
 * exportPolicy(policy, "okhttp-kotlin", { packageName: "com.myapp.net" });
 * ```
 */
export const okhttpKotlin = defineExportFormat({
  name: "okhttp-kotlin",
  platform: okhttpPlatform,
  options: ["packageName"],
  defaultOut: "app/src/main/java/PinningConfig.kt",
  shortFlags: false,
  export: exportOkHttpKotlin,
});

function exportOkHttpKotlin(policy: Policy, options: ExportOptions): ExportResult {
  const { entries, header, differences, notes } = planOkHttp(
    policy,
    options,
    okhttpKotlin,
    "Use it with OkHttpClient.Builder().certificatePinner(PinningConfig.certificatePinner).",
  );
  const lines = [
    slashComment(header),
    ...packageLine(options, false),
    "import okhttp3.CertificatePinner",
    "",
    "object PinningConfig {",
    "    val certificatePinner: CertificatePinner = CertificatePinner.Builder()",
    ...addCalls(entries, "kotlin", "        "),
    "        .build()",
    "}",
  ];
  return { content: `${lines.join("\n")}\n`, differences, notes };
}
