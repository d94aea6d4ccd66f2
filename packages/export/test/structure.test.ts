// The generated XML and plist, read back by parsers nobody here wrote (fast-xml-parser, @expo/plist),
// must have the structure Android and iOS document, and carry exactly the policy's pins.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import plist from "@expo/plist";
import { type Policy, pinToBase64 } from "@keypin/core";
import { exportPolicy } from "@keypin/export";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { goldenPolicy } from "./helpers.js";

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function is32ByteBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, "base64").length === 32;
}

type XmlNode = Record<string, unknown>;

function parseNsc(xml: string): XmlNode {
  assert.equal(XMLValidator.validate(xml), true, "well-formed XML");
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "@",
    commentPropName: "#comment",
  });
  return parser.parse(xml) as XmlNode;
}

function assertOnlyKeys(node: XmlNode, allowed: string[], where: string): void {
  for (const key of Object.keys(node)) {
    assert.ok(allowed.includes(key) || key === "#comment", `${where}: unexpected ${key}`);
  }
}

describe("android-nsc output read by fast-xml-parser", () => {
  for (const [name, policy, options] of [
    ["keypin.json", goldenPolicy("keypin.json"), {}],
    [
      "keypin.rich.json",
      goldenPolicy("keypin.rich.json"),
      { allowLossy: true, debugProxyCa: "proxy-ca.pem" },
    ],
  ] as const) {
    it(`has the Network Security Config structure and exactly the pins of ${name}`, () => {
      const doc = parseNsc(exportPolicy(policy as Policy, "android-nsc", options).content);
      const root = doc["network-security-config"] as XmlNode;
      assert.ok(root, "root element network-security-config");
      assertOnlyKeys(root, ["domain-config", "base-config", "debug-overrides"], "network-security-config");
      const configs = asArray(root["domain-config"] as XmlNode | XmlNode[]);
      assert.equal(configs.length, policy.domains.length);
      for (const d of policy.domains) {
        const config = configs.find((c) => (c.domain as XmlNode)["#text"] === d.domain);
        assert.ok(config, `a domain-config for ${d.domain}`);
        assertOnlyKeys(config, ["domain", "pin-set", "trust-anchors"], d.domain);
        const domain = config.domain as XmlNode;
        assert.equal(domain["@includeSubdomains"], String(d.includeSubdomains));
        const pinSet = config["pin-set"] as XmlNode | undefined;
        if (d.mode === "report-only") {
          assert.equal(pinSet, undefined, "a report-only domain has no pin-set (never blocked)");
          continue;
        }
        assert.ok(pinSet, `${d.domain} has a pin-set`);
        assertOnlyKeys(pinSet, ["pin", "@expiration"], `${d.domain} pin-set`);
        if (d.expires !== undefined) assert.match(String(pinSet["@expiration"]), /^\d{4}-\d{2}-\d{2}$/);
        else assert.equal(pinSet["@expiration"], undefined);
        const pins = asArray(pinSet.pin as XmlNode | XmlNode[]);
        for (const p of pins) {
          assert.equal(p["@digest"], "SHA-256");
          assert.ok(is32ByteBase64(String(p["#text"])), `pin ${String(p["#text"])} is base64 of 32 bytes`);
        }
        assert.deepEqual(
          pins.map((p) => p["#text"]),
          d.pins.map((k) => pinToBase64(k.pin)),
        );
      }
      const overrides = root["debug-overrides"] as XmlNode | undefined;
      if ("debugProxyCa" in options) {
        const certificates = ((overrides?.["trust-anchors"] as XmlNode)?.certificates ?? {}) as XmlNode;
        assert.equal(certificates["@src"], "@raw/proxy_ca");
        assert.equal(certificates["@overridePins"], "true");
      } else {
        assert.equal(overrides, undefined, "no debug-overrides unless asked");
      }
    });
  }
});

describe("ios-ats output read by @expo/plist", () => {
  for (const [name, policy] of [
    ["keypin.json", goldenPolicy("keypin.json")],
    ["keypin.rich.json", goldenPolicy("keypin.rich.json")],
  ] as const) {
    it(`parses as a plist with the NSAppTransportSecurity/NSPinnedDomains structure for ${name}`, () => {
      const { content } = exportPolicy(policy, "ios-ats", { allowLossy: true });
      const parsed = plist.default.parse(content) as Record<string, unknown>;
      assert.deepEqual(Object.keys(parsed), ["NSAppTransportSecurity"]);
      const ats = parsed.NSAppTransportSecurity as Record<string, unknown>;
      assert.deepEqual(Object.keys(ats), ["NSPinnedDomains"]);
      const pinned = ats.NSPinnedDomains as Record<string, Record<string, unknown>>;
      const expected = policy.domains.filter((d) => d.mode === "enforce");
      assert.deepEqual(Object.keys(pinned).sort(), expected.map((d) => d.domain).sort());
      for (const d of expected) {
        const entry = pinned[d.domain]!;
        for (const key of Object.keys(entry)) {
          assert.ok(
            ["NSIncludesSubdomains", "NSPinnedLeafIdentities", "NSPinnedCAIdentities"].includes(key),
            `unexpected ${key}`,
          );
        }
        assert.equal(entry.NSIncludesSubdomains, d.includeSubdomains);
        const ids = (k: string) =>
          ((entry[k] ?? []) as Record<string, string>[]).map((i) => {
            assert.deepEqual(Object.keys(i), ["SPKI-SHA256-BASE64"]);
            assert.ok(is32ByteBase64(i["SPKI-SHA256-BASE64"]!));
            return i["SPKI-SHA256-BASE64"];
          });
        const want = (roles: string[]) =>
          d.pins.filter((p) => p.role !== undefined && roles.includes(p.role)).map((p) => pinToBase64(p.pin));
        assert.deepEqual(ids("NSPinnedLeafIdentities"), want(["leaf", "backup"]));
        assert.deepEqual(ids("NSPinnedCAIdentities"), want(["intermediate", "root"]));
      }
    });
  }
});
