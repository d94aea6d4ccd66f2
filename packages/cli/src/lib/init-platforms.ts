// What `keypin init --platforms` needs: the formats chosen, the pin set they can all express, why, and a
// check with the real exporters that each one writes the policy exactly.
import { type LintFinding, type Policy, type PolicyFile, validatePolicy } from "@keypin/core";
import { type ExportFormat, exportFormats, exportPolicy, LossyExportError } from "@keypin/export";
import { UsageError } from "../errors.js";

/** How `init` pins iOS ATS: its leaf identities (your key and your backup) or its CA identities only. */
export type IosIdentities = "leaf" | "ca";

/** The values of `--ios-identities`, the default first. */
export const iosIdentityChoices = ["leaf", "ca"] as const satisfies readonly IosIdentities[];

/**
 * The pin set `init` writes: `leaf-ca-backup` (the leaf key, one CA key, the backup key), `leaf-backup`
 * (ATS leaf identities: the leaf key and the backup key) or `ca` (ATS CA identities: CA keys only).
 */
export type PinShape = "leaf-ca-backup" | "leaf-backup" | "ca";

/**
 * The formats of `--platforms` (comma-separated, repeatable), every export format when none is given, in the
 * export registry's order.
 *
 * @example
 * readPlatforms(["android-nsc,ios-ats"]); // ["android-nsc", "ios-ats"]
 */
export function readPlatforms(values: readonly string[]): ExportFormat[] {
  const names = values.flatMap((v) => v.split(",")).map((v) => v.trim());
  if (names.length === 0) return [...exportFormats];
  for (const name of names) {
    if (!exportFormats.includes(name as ExportFormat)) {
      throw new UsageError(
        `--platforms: unknown platform "${name}"; the platforms are ${exportFormats.join(", ")} (comma-separated)`,
      );
    }
  }
  return exportFormats.filter((f) => names.includes(f));
}

/**
 * The pin set for the chosen formats and why, as lines for the output.
 *
 * @example
 * choosePinShape(["android-nsc"], undefined); // { shape: "leaf-ca-backup", … }
 */
export function choosePinShape(
  platforms: readonly ExportFormat[],
  ios: IosIdentities | undefined,
): { shape: PinShape; ios?: IosIdentities; reasons: string[] } {
  if (!platforms.includes("ios-ats")) {
    if (ios !== undefined) {
      throw new UsageError(
        `--ios-identities ${ios} is about ios-ats, which is not in --platforms (${platforms.join(", ")})`,
      );
    }
    return {
      shape: "leaf-ca-backup",
      reasons: [
        `${platforms.join(", ")} accept a connection when any one pin matches, so the policy pins the leaf key, one CA key and your offline backup key.`,
      ],
    };
  }
  const chosen = ios ?? "leaf";
  const why =
    "iOS ATS (NSPinnedDomains) requires a match in each category when a domain has both leaf and CA identities, and a backup key counts as a leaf identity, so a leaf + CA + backup set cannot be written for it exactly.";
  const howChosen =
    ios === undefined
      ? "Chose leaf identities, the default (--ios-identities leaf): your own key and a backup you hold survive any CA change. Pass --ios-identities ca to pin the CA keys instead (no backup key of your own)."
      : `Chose ${chosen} identities (--ios-identities ${chosen}).`;
  if (chosen === "leaf") {
    return { shape: "leaf-backup", ios: chosen, reasons: [why, howChosen] };
  }
  return {
    shape: "ca",
    ios: chosen,
    reasons: [
      why,
      howChosen,
      "CA identities only: the issuing CA's key and its root's key, and no backup key of your own (ATS would require the backup to match as a leaf AND a CA key to match). A renewal may change the leaf key freely; a move to another CA (or a rotated intermediate) is not covered.",
    ],
  };
}

/**
 * What renewals must do, and how the policy and `keypin plan` watch it, for the pin set `shape`.
 *
 * @example
 * renewalAdvice("leaf-backup", ["api.myapp.com"]);
 */
export function renewalAdvice(shape: PinShape, domains: readonly string[]): string[] {
  const hosts = domains.join(" ");
  const reuse = domains.map((d) => `--reuse-key ${d}`).join(" ");
  switch (shape) {
    case "leaf-backup":
      return [
        `Every renewal must keep the leaf key of ${hosts} (a new key matches no pin and every installed app is locked out): certbot renew --reuse-key (or reuse_key = True in the renewal conf), lego renew --reuse-key, acme.sh without --always-force-new-domain-key (it keeps the key by default), cert-manager privateKey.rotationPolicy: Never, or a CSR made once from a key you keep. Your CDN or load balancer must let you bring your own key.`,
        `The policy records it: "renewal": { "reuseKey": true } for ${hosts}. keypin plan reads it (and says on whose word the leaf pin outlasts each renewal); keypin check --platforms ios-ats flags leaf identities without it. Keep it true only while your renewals keep the key.`,
        "If the key must change, move the server to the backup key first: the installed apps accept it.",
      ];
    case "ca":
      return [
        `Renewals may change the leaf key (the policy has no "renewal": the leaf key is not pinned). Watch the CA side with keypin plan: it warns before a pinned intermediate or root leaves the path.`,
      ];
    case "leaf-ca-backup":
      return [
        `Watch it: keypin plan. If your renewals keep the leaf key (certbot --reuse-key), say so in the policy with "renewal": { "reuseKey": true } under ${hosts} (or for one run: keypin plan ${reuse}).`,
      ];
    default: {
      const never: never = shape;
      throw new Error(`unknown shape ${String(never)}`);
    }
  }
}

/**
 * Exports `file` to every chosen format with the real exporters and refuses (exit 2) when one of them
 * cannot write it exactly, with that exporter's own reasons.
 *
 * @example
 * checkExpressible(file, ["android-nsc", "ios-ats"]);
 */
export function checkExpressible(
  file: PolicyFile,
  platforms: readonly ExportFormat[],
): { policy: Policy; warnings: LintFinding[] } {
  const validation = validatePolicy(file);
  if (!validation.ok) {
    throw new Error(
      `init built an invalid policy: ${validation.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
    );
  }
  const refusals: string[] = [];
  const refused: ExportFormat[] = [];
  for (const format of platforms) {
    try {
      exportPolicy(validation.policy, format);
    } catch (error) {
      if (!(error instanceof LossyExportError)) throw error;
      refused.push(format);
      const list = error.losses.map((l) => `${l.path}: ${l.problem.replace(/\.$/, "")}`).join("; ");
      refusals.push(`${error.platform} (${format}) cannot express it exactly: ${list}.${iosHint(format)}`);
    }
  }
  if (refusals.length > 0) {
    const others = platforms.filter((p) => !refused.includes(p));
    throw new UsageError(
      `init cannot propose a pin set that every chosen platform expresses exactly, so nothing was written. ${refusals.join(" ")} Change the options (e.g. without --include-subdomains), or leave ${refused.join(", ")} out${others.length > 0 ? `: --platforms ${others.join(",")}` : ""}`,
    );
  }
  return { policy: validation.policy, warnings: validation.warnings };
}

function iosHint(format: ExportFormat): string {
  return format === "ios-ats"
    ? " On iOS, TrustKit (trustkit) carries such a policy exactly where ATS cannot: choose it instead of ios-ats."
    : "";
}
