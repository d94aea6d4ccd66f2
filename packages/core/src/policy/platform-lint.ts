// Platform rules for lintPolicy: what a valid keypin.json means on each platform it is exported to, where that
// differs from what keypin means (threat model, "Platform facts the exporters must respect").
import { isIpAddress, normalizeHost } from "../host.js";
import type { DomainPolicy, LintFinding } from "../types.js";
import { jsonPointer } from "./read.js";

/**
 * The platforms lint knows, named as `keypin export --format` names them. `keypin check --platforms` takes any
 * export format (one not here has no rules); a test in packages/cli (commands/check.test.ts) fails for an
 * export format that is neither here nor listed there as not lint-relevant.
 */
export const LINT_PLATFORMS = [
  "android-nsc",
  "ios-ats",
  "trustkit",
  "okhttp-kotlin",
  "okhttp-java",
  "react-native",
  "node",
] as const;
export type LintPlatform = (typeof LINT_PLATFORMS)[number];

type Rule = (
  d: DomainPolicy,
  key: string,
  canonical: string,
) =>
  | (Omit<LintFinding, "platform" | "path" | "domain"> & {
      path?: string;
    })
  | undefined;

const OKHTTP: Rule[] = [
  (d, key) =>
    d.includeSubdomains
      ? {
          code: "okhttp3-subdomains",
          message: `"${key}" includes subdomains, exported as "**.${key}": OkHttp 4+ pins the host and every subdomain, but OkHttp 3.x (Debian's 3.13 included) accepts the pattern and matches nothing, so on 3.x nothing is pinned; upgrade OkHttp or list the subdomains`,
        }
      : undefined,
  (d, key) =>
    d.expires !== undefined
      ? {
          code: "no-expiry",
          path: "expires",
          message: `"${key}" expires on ${d.expires}, but OkHttp has no expiry: the exported pins never stop, so an app not updated in time refuses the server after a key change instead of failing open`,
        }
      : undefined,
];

/** TrustKit refuses to start with fewer than two pins for an enforced domain, and cannot pin an IP address. */
const TRUSTKIT: Rule[] = [
  (d, key) =>
    d.mode === "enforce" && d.pins.length < 2
      ? {
          code: "trustkit-two-pins",
          path: "pins",
          message: `"${key}" enforces ${d.pins.length} pin: TrustKit refuses a configuration with fewer than two pins when enforcing (the app stops at start-up); add a backup pin`,
        }
      : undefined,
  (_d, key, canonical) =>
    isIpAddress(canonical)
      ? { code: "ip-not-pinnable", message: `"${key}" is an IP address: TrustKit pins domain names only` }
      : undefined,
];

const RULES: Record<LintPlatform, Rule[]> = {
  "android-nsc": [
    (d, key) =>
      d.expires !== undefined
        ? {
            code: "expiry-fails-open",
            path: "expires",
            message: `"${key}" expires on ${d.expires}: from then on Android stops enforcing the pin-set (the app trusts any CA the device trusts); keep the date ahead of your releases`,
          }
        : undefined,
  ],
  "ios-ats": [
    (d, key) =>
      d.includeSubdomains
        ? {
            code: "ats-one-label",
            message: `"${key}" includes subdomains: ATS's NSIncludesSubdomains covers one more label only (x.${key}, not a.b.${key}); list deeper hosts, or use TrustKit, which covers any depth`,
          }
        : undefined,
    (d, key) => {
      const leaf = d.pins.some((p) => p.role === "leaf" || p.role === "backup");
      const ca = d.pins.some((p) => p.role === "intermediate" || p.role === "root");
      return leaf && ca
        ? {
            code: "ats-and-rule",
            path: "pins",
            message: `"${key}" pins leaf and CA keys: with both NSPinnedLeafIdentities and NSPinnedCAIdentities, ATS requires a match in each (the backup key counts as a leaf), where keypin accepts any one pin; pin leaf and backup keys only, or CA keys only (keypin init --platforms … --ios-identities leaf|ca)`,
          }
        : undefined;
    },
    (d, key) => {
      // ATS leaf identities (keypin init --ios-identities leaf): the leaf key and the backup, no CA key, so a
      // renewal that makes a new key matches no pin unless the server moves to the backup.
      const leafOnly =
        d.mode === "enforce" &&
        d.pins.some((p) => p.role === "leaf") &&
        !d.pins.some((p) => p.role === "intermediate" || p.role === "root");
      return leafOnly && d.renewal?.reuseKey !== true
        ? {
            code: "ats-leaf-renewal",
            path: d.renewal ? "renewal" : "pins",
            message: `"${key}" pins leaf identities only (no CA key), and ${d.renewal ? `"renewal.reuseKey" is false` : `the policy does not say that renewals keep the leaf key`}: on iOS ATS the first renewal with a new key matches no pin and locks every installed app out. Renew with the same key (certbot --reuse-key, lego --reuse-key, cert-manager rotationPolicy: Never) and record it as "renewal": { "reuseKey": true }, so keypin plan watches it; or pin CA keys only (keypin init --ios-identities ca)`,
          }
        : undefined;
    },
    (d, key) =>
      d.expires !== undefined
        ? {
            code: "no-expiry",
            path: "expires",
            message: `"${key}" expires on ${d.expires}, but ATS has no expiry: the pins in Info.plist never stop`,
          }
        : undefined,
    (d, key) =>
      d.mode === "report-only"
        ? {
            code: "no-report-only",
            path: "mode",
            message: `"${key}" is report-only, but ATS always enforces`,
          }
        : undefined,
    (_d, key, canonical) =>
      isIpAddress(canonical)
        ? { code: "ip-not-pinnable", message: `"${key}" is an IP address: ATS pins domain names only` }
        : undefined,
  ],
  trustkit: [
    ...TRUSTKIT,
    (d, key) =>
      d.expires !== undefined
        ? {
            code: "expiry-fails-open",
            path: "expires",
            message: `"${key}" expires on ${d.expires}: from then on TrustKit stops enforcing (kTSKExpirationDate) and the app trusts any CA the device trusts`,
          }
        : undefined,
  ],
  "okhttp-kotlin": OKHTTP,
  "okhttp-java": OKHTTP,
  // react-native-ssl-public-key-pinning runs TrustKit on iOS and OkHttp on Android.
  "react-native": [...TRUSTKIT, OKHTTP[0]!],
  node: [],
};

/** The platform findings for one domain entry, each naming its platform. */
export function platformFindings(d: DomainPolicy, platforms: readonly LintPlatform[]): LintFinding[] {
  const key = d.key ?? d.domain;
  const canonical = normalizeHost(d.domain);
  const out: LintFinding[] = [];
  for (const platform of platforms) {
    for (const rule of RULES[platform]) {
      const found = rule(d, key, canonical);
      if (!found) continue;
      const { path, ...rest } = found;
      out.push({
        ...rest,
        path: path ? jsonPointer("domains", key, path) : jsonPointer("domains", key),
        domain: canonical,
        platform,
      });
    }
  }
  return out;
}
