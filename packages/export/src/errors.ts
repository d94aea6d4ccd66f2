import { KeypinError } from "@keypin/core";
import type { ExportFormat } from "./registry.js";
import type { ExportLoss } from "./types.js";

/**
 * The policy cannot be exported to the platform without changing what it means. Code
 * `ERR_KEYPIN_LOSSY_EXPORT`. `losses` names every field and the platform; the message lists them on one line.
 * Pass `allowLossy` to write the file anyway with every difference listed, except for `blocking` losses,
 * which no option can write (they would block a domain the policy never blocks).
 *
 * @example
 * ```ts
 * try {
 *   exportPolicy(policy, "ios-ats");
 * } catch (e) {
 *   if (e instanceof LossyExportError) for (const l of e.losses) console.error(`${l.path}: ${l.problem}`);
 * }
 * ```
 */
export class LossyExportError extends KeypinError {
  /** The format that was asked for. */
  readonly format: ExportFormat;
  /** The platform's name, as in the message. */
  readonly platform: string;
  /** Every field the platform cannot keep. */
  readonly losses: ExportLoss[];
  /** The policy file's name, as in the message. */
  readonly source: string;

  constructor(format: ExportFormat, platform: string, losses: ExportLoss[], source: string) {
    super("ERR_KEYPIN_LOSSY_EXPORT", describeLosses(format, platform, losses, source, "allowLossy"));
    this.format = format;
    this.platform = platform;
    this.losses = losses;
    this.source = source;
  }

  /**
   * The message, naming the option that lets the losses through as the caller spells it (the library's
   * message says `allowLossy`; the CLI says `--allow-lossy`).
   *
   * @example
   * ```ts
   * console.error(error.messageFor("--allow-lossy"));
   * ```
   */
  messageFor(option: string): string {
    return describeLosses(this.format, this.platform, this.losses, this.source, option);
  }
}

function describeLosses(
  format: string,
  platform: string,
  losses: ExportLoss[],
  source: string,
  option: string,
): string {
  const blocking = losses.filter((l) => l.blocking);
  const shown = blocking.length > 0 ? blocking : losses;
  const list = shown
    .map(
      (l) =>
        `${l.path}: ${l.problem.replace(/\.$/, "")}${l.fix === undefined ? "" : ` (fix: ${l.fix.replace(/\.$/, "")})`}`,
    )
    .join("; ");
  const fixed = shown.every((l) => l.fix !== undefined);
  return blocking.length > 0
    ? `${platform} (${format}) cannot express ${source} even with ${option}: ${list}. ${fixed ? "Make the fixes above in the policy" : "Change the policy (give the domain its own pinned entry or drop the parent's includeSubdomains)"}.`
    : `${platform} (${format}) cannot express ${source} exactly: ${list}. ${fixed ? "Make the fixes above in the policy" : "Change the policy"}, or pass ${option} to write it anyway with every difference listed in the file's header.`;
}

/**
 * An export option that does not apply to the format (e.g. `debugProxyCa` outside android-nsc), or a bad
 * option value. Code `ERR_KEYPIN_EXPORT_OPTION`.
 *
 * @example
 * ```ts
 * try {
 *   exportPolicy(policy, "ios-ats", { debugProxyCa: "proxy.pem" });
 * } catch (e) {
 *   if (e instanceof ExportOptionError) console.error(e.message);
 * }
 * ```
 */
export class ExportOptionError extends KeypinError {
  constructor(message: string) {
    super("ERR_KEYPIN_EXPORT_OPTION", message);
  }
}
