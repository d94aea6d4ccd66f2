// Android Network Security Config (res/xml/network_security_config.xml).
import { asPlatformCompares, Findings, readHost, readPin, short, spellingProblem } from "../common.js";
import { isCalendarDate, lastPinnedDay } from "../dates.js";
import { ImportError } from "../errors.js";
import type { ImportedDomain, ImportedPin, ImportedSource, Place } from "../types.js";
import { parseXml, type XmlElement } from "../xml.js";

const platform = "Android";

/**
 * The bytes android.util.Base64.decode(text, DEFAULT) gives (frameworks/base core/java/android/util/Base64.java),
 * or undefined where it throws: the UTF-8 bytes are read with a table in which every byte outside the alphabet
 * and `=` is skipped (white space, line breaks, any other character, each byte of a non-ASCII one); `=` after two
 * characters of a quad must be followed by exactly one more `=`, after three by nothing but skipped bytes; a
 * quad of one character is refused; padding is optional.
 */
export function androidBase64Decode(text: string): Uint8Array | undefined {
  const input = new TextEncoder().encode(text);
  const out: number[] = [];
  let state = 0;
  let value = 0;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (const byte of input) {
    const d = byte === 0x3d ? -2 : byte < 0x80 ? alphabet.indexOf(String.fromCharCode(byte)) : -1;
    if (d === -1) continue;
    switch (state) {
      case 0:
      case 1:
        if (d < 0) return undefined;
        value = (value << 6) | d;
        state++;
        break;
      case 2:
        if (d >= 0) {
          value = (value << 6) | d;
          state = 3;
        } else {
          out.push((value >> 4) & 0xff);
          state = 4;
        }
        break;
      case 3:
        if (d >= 0) {
          value = (value << 6) | d;
          out.push((value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
          value = 0;
          state = 0;
        } else {
          out.push((value >> 10) & 0xff, (value >> 2) & 0xff);
          state = 5;
        }
        break;
      case 4:
        if (d !== -2) return undefined;
        state = 5;
        break;
      default:
        return undefined;
    }
    if (state === 0) value = 0;
  }
  if (state === 1 || state === 4) return undefined;
  if (state === 2) out.push((value >> 4) & 0xff);
  if (state === 3) out.push((value >> 10) & 0xff, (value >> 2) & 0xff);
  return Uint8Array.from(out);
}

/** Java's String.equalsIgnoreCase, char by char (so "ſha-256", with a long s, equals "SHA-256" as on Android). */
function javaEqualsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, b[i]!];
    if (x === y) continue;
    const [ux, uy] = [x.toUpperCase(), y.toUpperCase()];
    if (ux.length === 1 && uy.length === 1 && ux === uy) continue;
    const [lx, ly] = [ux.toLowerCase(), uy.toLowerCase()];
    if (ux.length === 1 && uy.length === 1 && lx === ly) continue;
    return false;
  }
  return true;
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

/** The elements Android's XmlConfigSource (and TrustKit for Android's trustkit-config) reads inside each. */
const knownChildren: Record<string, string[]> = {
  "network-security-config": ["base-config", "domain-config", "debug-overrides"],
  "base-config": ["trust-anchors"],
  "domain-config": ["domain", "trust-anchors", "pin-set", "domain-config", "trustkit-config"],
  "debug-overrides": ["trust-anchors"],
  "trust-anchors": ["certificates"],
  "pin-set": ["pin"],
  "trustkit-config": ["report-uri"],
  domain: [],
  pin: [],
  certificates: [],
  "report-uri": [],
};

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
      // Pin.isSupportedDigestAlgorithm: "SHA-256".equalsIgnoreCase(digest)
      if (digest === undefined || !javaEqualsIgnoreCase(digest, "SHA-256")) {
        throw new ImportError(
          at(pin.line),
          `<pin digest=${short(digest ?? "")}>: Android accepts only digest="SHA-256" (in any case) and rejects this file`,
        );
      }
      // XmlConfigSource decodes the text with android.util.Base64 (which skips what is not base64, so a pin split
      // over lines is read) and requires 32 bytes.
      const bytes = androidBase64Decode(pin.text);
      const read =
        bytes !== undefined && bytes.length === 32
          ? readPin(Buffer.from(bytes).toString("base64"))
          : undefined;
      if (read === undefined || "problem" in read) {
        throw new ImportError(
          at(pin.line),
          `<pin> holds ${short(pin.text)}, not the base64 of a SHA-256 digest; Android rejects this file`,
        );
      }
      if (/[^A-Za-z0-9+/=\t\n\r ]/.test(pin.text))
        findings.add(
          "changed",
          at(pin.line),
          `<pin> holds ${short(pin.text)}: Android's base64 decoder skips every character outside base64, so it reads ${short(read.pin)}; imported as Android reads it`,
        );
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

  // Android's parser (XmlConfigSource) skips an element it does not know, with all it holds; a prefixed name
  // (`<x:domain-config xmlns:x=…>`) is compiled by aapt2 as its local name and namespace, which keypin does not
  // read as Android would. Both are reported, never silently passed over.
  const unknown = (el: XmlElement): void => {
    const allowed = knownChildren[el.name];
    for (const child of el.children) {
      if (allowed?.includes(child.name)) {
        unknown(child);
        continue;
      }
      const local = child.name.includes(":") ? child.name.slice(child.name.indexOf(":") + 1) : undefined;
      if (local !== undefined && allowed?.includes(local))
        findings.add(
          "unreadable",
          at(child.line),
          `<${child.name}> in <${el.name}> has a namespace prefix: keypin does not read it, and Android may read it by its local name as <${local}>; nothing in it is imported (write <${local}> without a prefix)`,
        );
      else
        findings.add(
          "dropped",
          at(child.line),
          `<${child.name}> is not an element keypin knows in <${el.name}> (Android skips elements it does not know, with all they hold); nothing in it is imported`,
        );
    }
  };
  unknown(root);

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
