// The plain-data types of @keypin/export. Re-exported from index.ts.

/**
 * Options of {@link exportPolicy}. Everything here only changes the generated header or adds to the
 * output; nothing makes an export less faithful except `allowLossy`, which lists every difference.
 *
 * @example
 * ```ts
 * const options: ExportOptions = { source: "keypin.json", out: "app/src/main/res/xml/network_security_config.xml" };
 * ```
 */
export interface ExportOptions {
  /**
   * Write the output even when the platform cannot express the policy exactly. Every difference is
   * listed in the output's header and in `differences`. Dangerous: read them. A report-only domain is left
   * unpinned; a dropped expiry means the pins hold until the app is updated.
   */
  allowLossy?: boolean;
  /** The policy file's path as the user wrote it (named in the header and the regenerate command). Default `keypin.json`. */
  source?: string;
  /** The output path as the user wrote it (named in the regenerate command). */
  out?: string;
  /**
   * android-nsc only: the path of a debugging proxy's CA certificate. Adds `debug-overrides` that trust it
   * (and let it override pins) in debuggable builds only, as `@raw/<name>`; `notes` says where to copy it.
   */
  debugProxyCa?: string;
  /**
   * android-nsc only: the path of the `keypin audit` CA. Adds `debug-overrides` that trust it in debuggable
   * builds only, *without* overriding pins (`overridePins="false"`), so that an audit can tell a pinned host
   * (refused) from an unpinned one (intercepted). Not with `debugProxyCa`.
   */
  auditCa?: string;
  /**
   * android-nsc only: writes `<base-config cleartextTrafficPermitted="…"/>`. With a network security
   * config, Android ignores the manifest's `android:usesCleartextTraffic`, so an app (or a React Native
   * debug build loading JavaScript from Metro over http) that relies on it must say so here.
   */
  cleartextTrafficPermitted?: boolean;
  /** okhttp-kotlin and okhttp-java: the `package` line to write (e.g. `com.myapp.net`). */
  packageName?: string;
  /** Replaces the "regenerate with" instruction in the header (the Expo plugin says "run expo prebuild"). */
  regenerate?: string;
}

/**
 * What {@link exportPolicy} returns: the file's content, the differences from the policy (empty unless
 * `allowLossy` let some through) and notes for the person installing the file.
 *
 * @example
 * ```ts
 * const { content, differences, notes } = exportPolicy(policy, "ios-ats", { allowLossy: true });
 * for (const d of differences) console.error(`difference: ${d}`);
 * ```
 */
export interface ExportResult {
  content: string;
  differences: string[];
  notes: string[];
}

/**
 * One thing a platform cannot express. `path` is the JSON Pointer of the policy field,
 * e.g. `/domains/api.myapp.com/expires`.
 *
 * @example
 * ```ts
 * for (const loss of error.losses) console.error(`${loss.path} (${loss.platform}): ${loss.problem}`);
 * ```
 */
export interface ExportLoss {
  /** The domain, canonical. */
  domain: string;
  /** JSON Pointer of the field that cannot be kept, e.g. `/domains/api.myapp.com/mode`. */
  path: string;
  /** The platform's name, e.g. `iOS App Transport Security`. */
  platform: string;
  /** What the platform cannot do. */
  problem: string;
  /** What is written instead when `allowLossy` is set. */
  consequence: string;
  /** True when even `allowLossy` cannot write it without blocking or unpinning traffic the policy pins. */
  blocking: boolean;
  /**
   * The concrete change that makes the export exact: which pins to move or drop, which field to change, or
   * which other format carries the policy exactly (e.g. TrustKit for iOS).
   */
  fix?: string;
}
