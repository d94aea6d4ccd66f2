import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, extname, isAbsolute, join, relative, resolve } from "node:path";
import { domainToASCII } from "node:url";
import {
  AndroidConfig,
  type ConfigPlugin,
  createRunOncePlugin,
  WarningAggregator,
  withAndroidManifest,
  withDangerousMod,
  withInfoPlist,
} from "@expo/config-plugins";
import { KeypinError, normalizeHost, type Policy } from "@keypin/core";
import { buildAtsPinnedDomains, checkDebugProxyCa, exportPolicy, rawResourceName } from "@keypin/export";
import { loadPolicyFile } from "@keypin/node";

/**
 * Options of the `@keypin/expo` config plugin, as written in app.json.
 *
 * @example
 * ```json
 * { "expo": { "plugins": [["@keypin/expo", { "policy": "./keypin.json" }]] } }
 * ```
 */
export interface KeypinExpoOptions {
  /** Path of the keypin.json policy, relative to the project root. */
  policy: string;
  /**
   * Write even when Android or iOS cannot express the policy exactly; every difference becomes a prebuild
   * warning and is listed in the generated file. Dangerous: read them.
   */
  allowLossy?: boolean;
  /**
   * Android only: a debugging proxy's CA certificate (PEM or DER), copied to res/raw and trusted, with
   * pins overridden, in debuggable builds only (debug-overrides). Never affects release builds.
   */
  debugProxyCa?: string;
  /** Which platforms to configure (default both). */
  platforms?: ("android" | "ios")[];
}

const pluginName = "@keypin/expo";
const regenerate = "npx expo prebuild (written by the @keypin/expo config plugin from the policy)";
const nscFile = "network_security_config";
const manifestValue = `@xml/${nscFile}`;

function checkOptions(options: unknown): KeypinExpoOptions {
  const o = (options ?? {}) as Record<string, unknown>;
  const fail = (message: string) =>
    new KeypinError(
      "ERR_KEYPIN_EXPO_OPTIONS",
      `${pluginName}: ${message}. Use "plugins": [["@keypin/expo", { "policy": "./keypin.json" }]] in app.json.`,
    );
  for (const key of Object.keys(o)) {
    if (!["policy", "allowLossy", "debugProxyCa", "platforms"].includes(key))
      throw fail(`unknown option "${key}"`);
  }
  if (typeof o.policy !== "string" || o.policy === "")
    throw fail('the "policy" option (path of keypin.json) is missing');
  if (o.allowLossy !== undefined && typeof o.allowLossy !== "boolean")
    throw fail('"allowLossy" must be true or false');
  if (o.debugProxyCa !== undefined && typeof o.debugProxyCa !== "string")
    throw fail('"debugProxyCa" must be a path');
  const platforms = o.platforms ?? ["android", "ios"];
  if (!Array.isArray(platforms) || platforms.some((p) => p !== "android" && p !== "ios")) {
    throw fail('"platforms" must be a list of "android" and "ios"');
  }
  return {
    policy: o.policy,
    allowLossy: o.allowLossy === true,
    ...(o.debugProxyCa !== undefined ? { debugProxyCa: o.debugProxyCa as string } : {}),
    platforms: platforms as ("android" | "ios")[],
  };
}

/** Reads the policy once per prebuild and project. */
function policyLoader(
  options: KeypinExpoOptions,
): (projectRoot: string, platform: "android" | "ios") => Promise<{ policy: Policy; source: string }> {
  const cache = new Map<string, Promise<{ policy: Policy; source: string }>>();
  return (projectRoot, platform) => {
    const path = isAbsolute(options.policy) ? options.policy : resolve(projectRoot, options.policy);
    let loaded = cache.get(path);
    if (loaded === undefined) {
      loaded = loadPolicyFile(path).then(({ policy, warnings }) => {
        for (const w of warnings)
          WarningAggregator.addWarningForPlatform(
            platform,
            pluginName,
            `${options.policy}#${w.path}: ${w.message}`,
          );
        return { policy, source: relative(projectRoot, path) || basename(path) };
      });
      cache.set(path, loaded);
    }
    return loaded;
  };
}

/** `android:usesCleartextTraffic` of a manifest's application, when the file exists. */
async function cleartextOf(manifestPath: string): Promise<string | undefined> {
  if (!existsSync(manifestPath)) return undefined;
  const manifest = await AndroidConfig.Manifest.readAndroidManifestAsync(manifestPath);
  // The debug manifest's <application> has no android:name, so getMainApplication would not find it.
  const application = manifest.manifest.application?.[0];
  return (application?.$ as Record<string, string | undefined> | undefined)?.["android:usesCleartextTraffic"];
}

/**
 * Writes res/xml/network_security_config.xml. Once it exists Android ignores android:usesCleartextTraffic,
 * so the manifest's literal setting is carried into base-config, and when the debug manifest allows
 * cleartext (React Native debug builds load JavaScript from Metro over http), a debug-only copy in
 * src/debug/res/xml (which Android's resource merging uses for debug builds) allows it there too.
 */
async function writeNetworkSecurityConfig(
  modRequest: { projectRoot: string; platformProjectRoot: string },
  options: KeypinExpoOptions,
  load: ReturnType<typeof policyLoader>,
  mainCleartext: string | undefined,
): Promise<void> {
  const { projectRoot, platformProjectRoot } = modRequest;
  const { policy, source } = await load(projectRoot, "android");
  const base = {
    source,
    allowLossy: options.allowLossy ?? false,
    regenerate,
    ...(options.debugProxyCa !== undefined ? { debugProxyCa: options.debugProxyCa } : {}),
  };
  const literal = mainCleartext === "true" ? true : mainCleartext === "false" ? false : undefined;
  const main = exportPolicy(policy, "android-nsc", {
    ...base,
    ...(literal !== undefined ? { cleartextTrafficPermitted: literal } : {}),
  });
  for (const d of main.differences) WarningAggregator.addWarningAndroid(pluginName, d);
  const src = join(platformProjectRoot, "app", "src");
  await mkdir(join(src, "main", "res", "xml"), { recursive: true });
  await writeFile(join(src, "main", "res", "xml", `${nscFile}.xml`), main.content);

  const debugCleartext = await cleartextOf(join(src, "debug", "AndroidManifest.xml"));
  const placeholder = mainCleartext?.startsWith("${") === true;
  if (debugCleartext === "true" || placeholder) {
    const debug = exportPolicy(policy, "android-nsc", { ...base, cleartextTrafficPermitted: true });
    await mkdir(join(src, "debug", "res", "xml"), { recursive: true });
    await writeFile(join(src, "debug", "res", "xml", `${nscFile}.xml`), debug.content);
  }
}

const withKeypinAndroid: ConfigPlugin<{
  options: KeypinExpoOptions;
  load: ReturnType<typeof policyLoader>;
}> = (config, { options, load }) => {
  // The XML is written here rather than in the dangerous mod (which runs before every other mod) so that it
  // sees android:usesCleartextTraffic as the plugins before this one left it (e.g. expo-build-properties).
  config = withAndroidManifest(config, async (config) => {
    const application = AndroidConfig.Manifest.getMainApplicationOrThrow(config.modResults);
    const attributes = application.$ as Record<string, string | undefined>;
    const existing = attributes["android:networkSecurityConfig"];
    if (existing !== undefined && existing !== manifestValue) {
      throw new KeypinError(
        "ERR_KEYPIN_EXPO_CONFLICT",
        `${pluginName}: AndroidManifest.xml already sets android:networkSecurityConfig="${existing}"; keypin writes ${manifestValue}. Remove the other setting (or the plugin that adds it), so the pins are not silently replaced.`,
      );
    }
    attributes["android:networkSecurityConfig"] = manifestValue;
    if (!config.modRequest.introspect) {
      await writeNetworkSecurityConfig(
        config.modRequest,
        options,
        load,
        attributes["android:usesCleartextTraffic"],
      );
    }
    return config;
  });
  if (options.debugProxyCa === undefined) return config;
  const debugProxyCa = options.debugProxyCa;
  return withDangerousMod(config, [
    "android",
    async (config) => {
      const { projectRoot, platformProjectRoot } = config.modRequest;
      const from = resolve(projectRoot, debugProxyCa);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(from);
      } catch (error) {
        throw new KeypinError(
          "ERR_KEYPIN_EXPO_OPTIONS",
          `${pluginName}: "debugProxyCa" ${debugProxyCa} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the path of the proxy's CA certificate, relative to the project root.`,
          { cause: error },
        );
      }
      // Certificates only: res/raw ships in release builds too, so a private key here would ship in the app.
      checkDebugProxyCa(bytes, `${pluginName}: "debugProxyCa" ${debugProxyCa}`);
      const raw = join(platformProjectRoot, "app", "src", "main", "res", "raw");
      await mkdir(raw, { recursive: true });
      await writeFile(join(raw, `${rawResourceName(from)}${extname(from).toLowerCase()}`), bytes);
      return config;
    },
  ]);
};

/**
 * The host an existing NSPinnedDomains key names, in every spelling iOS might read as the same host:
 * surrounding spaces, letter case, trailing dots, full-width and ideographic dots and Unicode names
 * (IDNA, as URL parsing maps them), IP address spellings. A wider match only ever removes an old entry for
 * one of the policy's hosts; it cannot merge two different hosts.
 */
function hostOfKey(key: string): string {
  const trimmed = key.trim();
  const ascii = domainToASCII(trimmed) || trimmed.toLowerCase();
  return normalizeHost(ascii.replace(/\.+$/, ""));
}

/** How many labels `host` sits below `parent`, or undefined when it is not under it. */
function labelsBelow(host: string, parent: string): number | undefined {
  if (host === parent) return 0;
  if (!host.endsWith(`.${parent}`)) return undefined;
  return host.slice(0, -parent.length - 1).split(".").length;
}

/**
 * The app's NSPinnedDomains with the policy applied: every existing entry for a host of the policy (in any
 * spelling of {@link hostOfKey}) is removed, whether the policy pins the host on iOS or leaves it out
 * (report-only, an IP address…), since the old pins would otherwise still block it; the policy's entries
 * are added; entries for other hosts are kept. Says what it removed and what it kept.
 */
function mergePinnedDomains(
  existing: unknown,
  policy: Policy,
  pinnedDomains: Record<string, unknown>,
  source: string,
): { merged: Record<string, unknown>; warnings: string[] } {
  if (
    existing !== undefined &&
    (typeof existing !== "object" || existing === null || Array.isArray(existing))
  ) {
    throw new KeypinError(
      "ERR_KEYPIN_EXPO_CONFLICT",
      `${pluginName}: Info.plist NSAppTransportSecurity/NSPinnedDomains is not a dictionary; keypin writes one. Remove it (or the plugin that sets it).`,
    );
  }
  const hosts = new Set(policy.domains.map((d) => d.domain));
  const merged: Record<string, unknown> = {};
  const removed: string[] = [];
  const kept: string[] = [];
  for (const [key, entry] of Object.entries((existing ?? {}) as Record<string, unknown>)) {
    const host = hostOfKey(key);
    if (hosts.has(host)) {
      const why = Object.hasOwn(pinnedDomains, host)
        ? `replaced by ${source}'s entry for ${host}`
        : `${source} leaves ${host} unpinned on iOS (see the differences listed), and the old pins would still block it`;
      removed.push(`${JSON.stringify(key)}: ${why}`);
    } else {
      Object.defineProperty(merged, key, {
        value: entry,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      kept.push(JSON.stringify(key));
    }
  }
  for (const [host, entry] of Object.entries(pinnedDomains)) merged[host] = entry;
  // A policy host left out of NSPinnedDomains must not fall under a kept entry's NSIncludesSubdomains (one
  // label, as ATS applies it): that entry's pins would block a host the policy never blocks on iOS.
  for (const d of policy.domains) {
    if (Object.hasOwn(pinnedDomains, d.domain)) continue;
    for (const key of Object.keys(merged)) {
      if (Object.hasOwn(pinnedDomains, key)) continue;
      const entry = merged[key] as { NSIncludesSubdomains?: unknown } | undefined;
      if (entry?.NSIncludesSubdomains === true && labelsBelow(d.domain, hostOfKey(key)) === 1) {
        throw new KeypinError(
          "ERR_KEYPIN_EXPO_CONFLICT",
          `${pluginName}: Info.plist already pins ${JSON.stringify(key)} with NSIncludesSubdomains, which covers ${d.domain}; the policy leaves ${d.domain} unpinned on iOS, so those pins would block it. Add ${hostOfKey(key)} to ${source} (then keypin replaces the entry), or remove the entry from Info.plist.`,
        );
      }
    }
  }
  const warnings: string[] = [];
  if (removed.length > 0) {
    warnings.push(
      `Removed the app's existing NSPinnedDomains entr${removed.length === 1 ? "y" : "ies"} for hosts ${source} names: ${removed.join("; ")}.`,
    );
  }
  if (kept.length > 0) {
    warnings.push(
      `Kept the app's existing NSPinnedDomains entr${kept.length === 1 ? "y" : "ies"} for hosts ${source} does not name (keypin does not manage ${kept.length === 1 ? "it" : "them"}): ${kept.join(", ")}.`,
    );
  }
  return { merged, warnings };
}

const withKeypinIos: ConfigPlugin<{ options: KeypinExpoOptions; load: ReturnType<typeof policyLoader> }> = (
  config,
  { options, load },
) =>
  withInfoPlist(config, async (config) => {
    const { policy, source } = await load(config.modRequest.projectRoot, "ios");
    const { pinnedDomains, differences } = buildAtsPinnedDomains(policy, {
      source,
      allowLossy: options.allowLossy ?? false,
      regenerate,
    });
    for (const d of differences) WarningAggregator.addWarningIOS(pluginName, d);
    const ats = (config.modResults.NSAppTransportSecurity ?? {}) as Record<string, unknown>;
    const { merged, warnings } = mergePinnedDomains(ats.NSPinnedDomains, policy, pinnedDomains, source);
    for (const w of warnings) WarningAggregator.addWarningIOS(pluginName, w);
    // Other keys of the app's ATS settings stay.
    config.modResults.NSAppTransportSecurity = { ...ats, NSPinnedDomains: merged } as never;
    return config;
  });

const withKeypin: ConfigPlugin<KeypinExpoOptions> = (config, props) => {
  const options = checkOptions(props);
  const load = policyLoader(options);
  if (options.platforms?.includes("android")) config = withKeypinAndroid(config, { options, load });
  if (options.platforms?.includes("ios")) config = withKeypinIos(config, { options, load });
  return config;
};

/**
 * The `@keypin/expo` config plugin: at prebuild, writes the Android network security config
 * (res/xml/network_security_config.xml and the manifest's android:networkSecurityConfig) and the iOS
 * Info.plist NSAppTransportSecurity/NSPinnedDomains from one keypin.json, with `@keypin/export`'s exporters.
 * A policy the platform cannot express exactly fails the prebuild, unless `allowLossy`. Needs a development
 * build (expo prebuild / expo run), not Expo Go.
 *
 * @example
 * ```json
 * { "expo": { "plugins": [["@keypin/expo", { "policy": "./keypin.json" }]] } }
 * ```
 * @example
 * ```ts
 * // app.config.ts
 * import withKeypin from "@keypin/expo";
 * export default withKeypin({ name: "my-app", slug: "my-app" }, { policy: "./keypin.json" });
 * ```
 */
const plugin: ConfigPlugin<KeypinExpoOptions> = createRunOncePlugin(withKeypin, pluginName);
export default plugin;
