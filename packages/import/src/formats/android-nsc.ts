// Android Network Security Config (res/xml/network_security_config.xml).
import { asPlatformCompares, Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { isCalendarDate, lastPinnedDay } from "../dates.js";
import { ImportError } from "../errors.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";
import { parseXml, type XmlElement } from "../xml.js";

const platform = "Android";

/** The standard padded base64 of the 32 bytes that `text` (43 or 44 characters) decodes to. */
function canonicalBase64(text: string): string {
  const bytes = Uint8Array.from(atob(text.endsWith("=") ? text : `${text}=`), (c) => c.charCodeAt(0));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * A boolean attribute as Android reads it. aapt2 compiles an attribute without a namespace by its value's shape
 * (ResourceUtils::TryParseItemForAttribute): `true`, `True`, `TRUE` and the three spellings of false, white space
 * trimmed, become booleans, which the NSC parser's getAttributeBooleanValue reads; other values become numbers,
 * colours, references or text, read by other rules (a colour is true, text is the default). keypin reads the six
 * spellings and refuses the rest rather than guess.
 */
function readBoolean(el: XmlElement, name: string, fallback: boolean, file: string): boolean {
  const raw = el.attributes[name];
  if (raw === undefined) return fallback;
  const value = raw.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "");
  if (value === "true" || value === "True" || value === "TRUE") return true;
  if (value === "false" || value === "False" || value === "FALSE") return false;
  throw new ImportError(
    { file, line: el.line },
    `<${el.name} ${name}=${short(raw)}>: Android reads only true or false (in any of the spellings aapt2 compiles: true, True, TRUE) as a boolean here, and this value by other rules keypin does not guess; write true or false`,
  );
}

/** What a domain-config has, or inherits from the configs around it (Android's inheritance rules). */
interface Inherited {
  pinSet?: { pins: ImportedPin[]; expires?: string; line: number };
  /** The trust-anchors certificates that override pins, with their line. */
  overrides: { src: string; line: number }[];
  /** TrustKit for Android's `<trustkit-config>` (enforcePinning, report-uri). */
  trustKit?: { enforce: boolean; reportUris: string[]; line: number };
}

/**
 * Reads an Android network security config: every domain-config (nested ones inherit the pin-set and
 * trust anchors of the config around them), `includeSubdomains`, pin-set `expiration` (Android's first
 * unpinned day, converted to keypin's last pinned day), `overridePins` (reported: keypin has no such
 * exception) and `debug-overrides` (reported, never imported as pins).
 */
export function importAndroidNsc(text: string, file: string): ImportedSource {
  const root = parseXml(text, file);
  if (root.name !== "network-security-config") {
    throw new ImportError(
      { file, line: root.line },
      `the root element is <${root.name}>, not <network-security-config>: not an Android network security config`,
    );
  }
  const findings = new Findings();
  const domains: ImportedDomain[] = [];
  const seen = new Map<string, number>();
  const at = (line: number): Place => ({ file, line });

  const overridesOf = (config: XmlElement): { src: string; line: number }[] | undefined => {
    const anchors = config.children.find((c) => c.name === "trust-anchors");
    if (anchors === undefined) return undefined;
    return anchors.children
      .filter((c) => c.name === "certificates" && readBoolean(c, "overridePins", false, file))
      .map((c) => ({ src: c.attributes.src ?? "(no src)", line: c.line }));
  };

  const readPinSet = (set: XmlElement): Inherited["pinSet"] => {
    const pins: ImportedPin[] = [];
    for (const pin of set.children.filter((c) => c.name === "pin")) {
      const digest = pin.attributes.digest;
      if (digest !== "SHA-256") {
        throw new ImportError(
          at(pin.line),
          `<pin digest=${short(digest ?? "")}>: Android accepts only digest="SHA-256" and rejects this file`,
        );
      }
      // Android decodes the base64 leniently (a missing "=" is fine) and requires 32 bytes.
      const read = /^[A-Za-z0-9+/]{43}=?$/.test(pin.text) ? readPin(canonicalBase64(pin.text)) : undefined;
      if (read === undefined || "problem" in read) {
        throw new ImportError(
          at(pin.line),
          `<pin> holds ${short(pin.text)}, not the base64 of a SHA-256 digest; Android rejects this file`,
        );
      }
      if (!pins.some((p) => p.pin === read.pin)) pins.push({ pin: read.pin, place: at(pin.line) });
    }
    const expiration = set.attributes.expiration;
    if (expiration === undefined) return { pins, line: set.line };
    if (!isCalendarDate(expiration)) {
      throw new ImportError(
        at(set.line),
        `pin-set expiration=${short(expiration)} is not a yyyy-MM-dd date; Android rejects this file`,
      );
    }
    return { pins, expires: lastPinnedDay(expiration)!, line: set.line };
  };

  const base = root.children.find((c) => c.name === "base-config");
  const baseOverrides = base === undefined ? [] : (overridesOf(base) ?? []);
  if (base?.children.some((c) => c.name === "pin-set")) {
    findings.add(
      "dropped",
      at(base.line),
      "base-config cannot hold a pin-set (Android ignores it); not imported",
    );
  }

  const visit = (config: XmlElement, parent: Inherited): void => {
    const sets = config.children.filter((c) => c.name === "pin-set");
    if (sets.length > 1) {
      throw new ImportError(
        at(sets[1]!.line),
        "a domain-config has more than one pin-set; Android rejects this file",
      );
    }
    const tk = config.children.find((c) => c.name === "trustkit-config");
    const own: Inherited = {
      overrides: overridesOf(config) ?? parent.overrides,
      ...(tk !== undefined
        ? {
            trustKit: {
              enforce: tk.attributes.enforcePinning !== "false",
              reportUris: tk.children.filter((c) => c.name === "report-uri").map((c) => c.text),
              line: tk.line,
            },
          }
        : parent.trustKit
          ? { trustKit: parent.trustKit }
          : {}),
      ...(sets[0] !== undefined
        ? { pinSet: readPinSet(sets[0]) }
        : parent.pinSet
          ? { pinSet: parent.pinSet }
          : {}),
    };
    for (const el of config.children.filter((c) => c.name === "domain")) {
      const host = readHost(el.text);
      if (host === undefined) {
        throw new ImportError(at(el.line), `<domain> holds ${short(el.text)}, not a host name`);
      }
      // Android keeps the domain as written, only trimmed and lowercased: two spellings are two domains.
      const asAndroid = asPlatformCompares(el.rawText, "android");
      const previous = seen.get(asAndroid);
      if (previous !== undefined) {
        throw new ImportError(
          at(el.line),
          `${short(asAndroid)} is already configured at line ${previous}; Android rejects a domain named twice`,
        );
      }
      seen.set(asAndroid, el.line);
      const includeSubdomains = readBoolean(el, "includeSubdomains", false, file);
      if (own.pinSet === undefined) continue; // a domain-config for cleartext or trust anchors only: no pins
      const spelling = spellingProblem(el.rawText, host, "android");
      if (spelling !== undefined) {
        findings.add(
          "not-applied",
          at(el.line),
          `<domain> holds ${short(el.rawText)}, with ${spelling}: Android compares the domain as written (only trimmed and lowercased: ${short(asAndroid)}) with the host the app connects to (${short(host)}), so it never applies this entry's pins to ${host}, which is not pinned on Android; not imported (write <domain>${host}</domain> to pin it)`,
          host,
        );
        continue;
      }
      if (own.pinSet.pins.length === 0) {
        findings.add(
          "dropped",
          at(own.pinSet.line),
          `the pin-set for ${host} has no pins, so Android does not pin it`,
          host,
        );
        continue;
      }
      const domain: ImportedDomain = {
        domain: host,
        includeSubdomains,
        pins: own.pinSet.pins,
        mode: "enforce",
        reportUris: [],
        place: at(el.line),
      };
      if (own.pinSet.expires !== undefined) domain.expires = own.pinSet.expires;
      if (own.trustKit !== undefined) {
        domain.reportUris = [...new Set(own.trustKit.reportUris)];
        if (!own.trustKit.enforce) {
          findings.add(
            "changed",
            at(own.trustKit.line),
            `<trustkit-config enforcePinning="false"> for ${host}: TrustKit for Android only reports, but Android 7+ enforces the pin-set itself; imported as enforce`,
            host,
            "mode",
          );
        }
      }
      domains.push(domain);
      for (const o of own.overrides) {
        findings.add(
          "dropped",
          at(o.line),
          `overridePins="true" on ${short(o.src)}: Android skips ${host}'s pins for chains that end at that CA; keypin has no such exception, so the pins are imported and hold for every chain`,
          host,
          "pins",
        );
      }
    }
    for (const inner of config.children.filter((c) => c.name === "domain-config")) visit(inner, own);
  };

  for (const config of root.children.filter((c) => c.name === "domain-config")) {
    visit(config, { overrides: baseOverrides });
  }

  for (const debug of root.children.filter((c) => c.name === "debug-overrides")) {
    const certs = debug.children.flatMap((c) => (c.name === "trust-anchors" ? c.children : []));
    // In debug-overrides, overridePins defaults to true (XmlConfigSource: defaultOverridePins = configType == CONFIG_DEBUG).
    const names = certs.map(
      (c) =>
        `${c.attributes.src ?? "?"}${readBoolean(c, "overridePins", true, file) ? " (overriding pins)" : ""}`,
    );
    findings.add(
      "dropped",
      at(debug.line),
      `debug-overrides (debuggable builds only) trusts ${names.length > 0 ? names.join(", ") : "no extra CA"}; not imported: keypin.json holds the pins every build enforces`,
    );
  }
  return {
    file,
    format: "android-nsc",
    platform,
    domains,
    findings: findings.list,
    expresses: { expires: true, reportUris: domains.some((d) => d.reportUris.length > 0), reportOnly: false },
  };
}
