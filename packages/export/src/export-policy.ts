import { normalizePolicy, type Policy } from "@keypin/core";
import { ExportOptionError } from "./errors.js";
import { formatOptions } from "./format.js";
import { type ExportFormat, exportFormatDescriptor, exportFormatDescriptors } from "./registry.js";
import type { ExportOptions, ExportResult } from "./types.js";

/** `a`, `a and b`, `a, b and c`. */
function listOf(names: string[], conjunction: "and" | "or"): string {
  return names.length < 2
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} ${conjunction} ${names.at(-1)}`;
}

/**
 * Turns a validated policy into one platform's pinning configuration. Faithful or loud: when the platform
 * cannot express the policy exactly, it throws a `LossyExportError` (code `ERR_KEYPIN_LOSSY_EXPORT`) naming
 * each field and the platform, unless `allowLossy` is set, in which case every difference is listed in
 * the output's header and in `differences`. The policy is validated again with `normalizePolicy` (a
 * `PolicyError`, code `ERR_KEYPIN_POLICY`, when it is not valid), so a policy built in code is held to
 * keypin.json's rules. An option the format does not take (`debugProxyCa` outside
 * android-nsc…) is an `ExportOptionError` (code `ERR_KEYPIN_EXPORT_OPTION`). The output is deterministic
 * (no dates, no versions), so it can be compared with a committed file to detect drift.
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
  const descriptor = exportFormatDescriptor(format);
  if (descriptor === undefined) throw new TypeError(`Unknown export format ${String(format)}.`);
  for (const option of formatOptions) {
    if (options[option] === undefined || descriptor.options.includes(option)) continue;
    const takers = exportFormatDescriptors.filter((f) => f.options.includes(option)).map((f) => f.name);
    throw new ExportOptionError(
      `${option} only applies to ${listOf(takers, "and")} (got format ${format}). Remove it, or export ${listOf(takers, "or")}.`,
    );
  }
  // Whatever it is given (a policy built in code, a stale copy) is validated first, as @keypin/node's
  // clients do: an invalid host, label or report URI is a PolicyError (ERR_KEYPIN_POLICY), never written.
  return descriptor.export(normalizePolicy(policy).policy, options);
}
