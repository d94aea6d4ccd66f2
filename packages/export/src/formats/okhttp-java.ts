// OkHttp CertificatePinner, as Java source.
import type { Policy } from "@keypin/core";
import { slashComment } from "../common.js";
import { defineExportFormat } from "../format.js";
import { addCalls, okhttpPlatform, packageLine, planOkHttp } from "../okhttp.js";
import type { ExportOptions, ExportResult } from "../types.js";

/**
 * `okhttp-java`: `public final class PinningConfig { public static CertificatePinner certificatePinner() }`.
 *
 * @example
 * ```ts
 * exportPolicy(policy, "okhttp-java", { packageName: "com.myapp.net" });
 * ```
 */
export const okhttpJava = defineExportFormat({
  name: "okhttp-java",
  platform: okhttpPlatform,
  options: ["packageName"],
  defaultOut: "app/src/main/java/PinningConfig.java",
  shortFlags: false,
  export: exportOkHttpJava,
});

function exportOkHttpJava(policy: Policy, options: ExportOptions): ExportResult {
  const { entries, header, differences, notes } = planOkHttp(
    policy,
    options,
    okhttpJava,
    "Save as PinningConfig.java; use it with new OkHttpClient.Builder().certificatePinner(PinningConfig.certificatePinner()).",
  );
  const lines = [
    slashComment(header),
    ...packageLine(options, true),
    "import okhttp3.CertificatePinner;",
    "",
    "public final class PinningConfig {",
    "    private PinningConfig() {}",
    "",
    "    public static CertificatePinner certificatePinner() {",
    "        return new CertificatePinner.Builder()",
    ...addCalls(entries, "java", "            "),
    "            .build();",
    "    }",
    "}",
  ];
  return { content: `${lines.join("\n")}\n`, differences, notes };
}
