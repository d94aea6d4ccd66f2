// Android Network Security Config: res/xml/network_security_config.xml
import type { Policy } from "@keypin/core";
import { pinToBase64 } from "@keypin/core";
import { create } from "xmlbuilder2";
import {
  assertXmlCharacters,
  describePin,
  headerLines,
  nextDay,
  planDomains,
  reportsDropped,
  sanitizeCommentText,
  settleLosses,
} from "../common.js";
import { ExportOptionError } from "../errors.js";
import { defineExportFormat } from "../format.js";
import type { ExportOptions, ExportResult } from "../types.js";

/**
 * `android-nsc`: the Android Network Security Config, `res/xml/network_security_config.xml`.
 *
 * @example
 * ```ts
 * exportPolicy(policy, "android-nsc", { debugProxyCa: "charles-ca.pem" });
 * ```
 */
export const androidNsc = defineExportFormat({
  name: "android-nsc",
  platform: "Android Network Security Config",
  options: ["debugProxyCa", "auditCa", "cleartextTrafficPermitted"],
  defaultOut: "app/src/main/res/xml/network_security_config.xml",
  shortFlags: true,
  export: exportAndroidNsc,
});

/**
 * The AndroidManifest.xml `<application>` attribute that makes Android read the generated file.
 *
 * @example
 * ```ts
 * console.log(`<application ${androidManifestAttribute} …>`);
 * ```
 */
export const androidManifestAttribute = 'android:networkSecurityConfig="@xml/network_security_config"';

/**
 * The `@raw/` resource name Android will accept for a file: lowercase letters, digits and `_`, not
 * starting with a digit, without the extension.
 *
 * @example
 * ```ts
 * rawResourceName("certs/Charles Proxy-CA.pem"); // "charles_proxy_ca"
 * ```
 */
export function rawResourceName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? "";
  const stem = base.includes(".") ? base.slice(0, base.lastIndexOf(".")) : base;
  let name = stem.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (name === "" || /^_+$/.test(name)) name = "debug_proxy_ca";
  if (/^[0-9]/.test(name)) name = `ca_${name}`;
  return name;
}

function exportAndroidNsc(policy: Policy, options: ExportOptions): ExportResult {
  const { platform } = androidNsc;
  const notes: string[] = [
    `Save as ${androidNsc.defaultOut} and reference it from AndroidManifest.xml: <application ${androidManifestAttribute} ...>.`,
    "Android reads this file on Android 7.0 (API 24) and later; older versions ignore it and do not pin.",
    options.cleartextTrafficPermitted === undefined
      ? "With this file Android ignores android:usesCleartextTraffic in the manifest. If the app (or a React Native debug build loading JavaScript from Metro over http) needs cleartext, export with the allow-cleartext option (keypin export -C; the Expo plugin carries the manifest's setting over, and writes a debug-only copy that allows it when the debug manifest does)."
      : `base-config sets cleartextTrafficPermitted="${options.cleartextTrafficPermitted}" (Android ignores android:usesCleartextTraffic once this file exists).`,
  ];

  // A report-only domain is still written, as a domain-config without a pin-set.
  const { losses } = planDomains(
    policy,
    {
      platform,
      problem: "Android has no report-only mode (a pin-set always blocks on mismatch).",
      consequence:
        "Written as a domain-config without a pin-set: the domain is left unpinned (never blocked) and no report is sent.",
    },
    (d, losses) => {
      if (d.reportUris.length > 0) {
        const consequence = "Dropped: failures block the connection and nothing is reported.";
        losses.push(reportsDropped(d, platform, "Android sends no pin-failure reports.", consequence));
      }
      return "written";
    },
  );
  if (policy.domains.some((d) => d.expires !== undefined && d.mode === "enforce")) {
    notes.push(
      "Each pin-set expiration is the day after keypin's expires: keypin pins through the end of that day (UTC), and Android stops enforcing at midnight starting the expiration date, in the device's time zone, so the switch-off can move by the device's UTC offset (up to 14 hours). After it, the domain is not pinned.",
    );
  }
  let rawName: string | undefined;
  let overridePins = "true";
  if (options.debugProxyCa !== undefined && options.auditCa !== undefined) {
    throw new ExportOptionError(
      "android-nsc takes --debug-proxy-ca (trust a proxy CA and let it override pins: for debugging traffic) or --audit-ca (trust the keypin audit CA and keep the pins: for an audit), not both",
    );
  }
  if (options.auditCa !== undefined) {
    rawName = rawResourceName(options.auditCa);
    overridePins = "false";
    const ext = options.auditCa.includes(".") ? options.auditCa.slice(options.auditCa.lastIndexOf(".")) : "";
    notes.push(
      `debug-overrides trusts @raw/${rawName}, the keypin audit CA, without overriding the pins (overridePins="false"), in debuggable builds only: keypin audit can then tell a pinned host (refused) from an unpinned one (intercepted). Copy ${options.auditCa} to app/src/main/res/raw/${rawName}${ext.toLowerCase()}. Release builds ignore it.`,
    );
  }
  if (options.debugProxyCa !== undefined) {
    rawName = rawResourceName(options.debugProxyCa);
    const ext = options.debugProxyCa.includes(".")
      ? options.debugProxyCa.slice(options.debugProxyCa.lastIndexOf("."))
      : "";
    notes.push(
      `debug-overrides trusts @raw/${rawName} and lets it override the pins, in debuggable builds only (android:debuggable, i.e. debug builds). Copy ${options.debugProxyCa} to app/src/main/res/raw/${rawName}${ext.toLowerCase()} (PEM or DER). Release builds ignore it.`,
    );
  }

  const differences = settleLosses(androidNsc, losses, options);
  const doc = create({ version: "1.0", encoding: "utf-8" });
  doc.com(
    `\n${headerLines(androidNsc, options, notes, differences)
      .map((l) => (l === "" ? "" : `    ${l}`))
      .join("\n")}\n`,
  );
  const root = doc.ele("network-security-config");
  if (options.cleartextTrafficPermitted !== undefined) {
    root.ele("base-config", { cleartextTrafficPermitted: String(options.cleartextTrafficPermitted) });
  }
  for (const d of policy.domains) {
    const config = root.ele("domain-config");
    config.ele("domain", { includeSubdomains: d.includeSubdomains ? "true" : "false" }).txt(d.domain);
    if (d.mode === "report-only") {
      config.com(" report-only in the policy: no pin-set, so this domain is not pinned ");
      continue;
    }
    const pinSet = config.ele("pin-set", d.expires !== undefined ? { expiration: nextDay(d.expires) } : {});
    for (const key of d.pins) {
      const text = describePin(key);
      if (text !== undefined) pinSet.com(` ${sanitizeCommentText(text, true)} `);
      pinSet.ele("pin", { digest: "SHA-256" }).txt(pinToBase64(key.pin));
    }
  }
  if (rawName !== undefined) {
    root
      .ele("debug-overrides")
      .ele("trust-anchors")
      .ele("certificates", { src: `@raw/${rawName}`, overridePins });
  }
  const content = assertXmlCharacters(
    `${doc.end({ prettyPrint: true, indent: "    ", headless: false })}\n`,
    androidNsc.name,
  );
  return { content, differences, notes };
}
