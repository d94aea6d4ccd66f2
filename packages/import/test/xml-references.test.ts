// Review 3 of the import (findings 1 to 4): keypin reads an XML file's references, DTD and attribute values as the
// platform's own parser does, with Python's expat (xml.etree) and plistlib as the outside readers. What keypin
// cannot be sure it reads alike is refused with an ImportError naming the line, never read another way.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { ImportError, type ImportedSource, importFile } from "@keypin/import";

const b64 = (b: number) => Buffer.alloc(32, b).toString("base64");
const P = (b: number) => `sha256/${b64(b)}`;

interface Tree {
  name: string;
  attributes: Record<string, string>;
  text: string;
  children: Tree[];
}

/** What expat (Python's xml.etree) reads from `xml`: the element tree, or the error and its line. */
function expat(xml: string): Tree | { error: string; line: number } {
  const script = `import json, sys
import xml.etree.ElementTree as ET
def dump(e):
    return {"name": e.tag, "attributes": dict(e.attrib), "text": "".join([e.text or ""] + [c.tail or "" for c in e]), "children": [dump(c) for c in e]}
try:
    print(json.dumps(dump(ET.fromstring(sys.stdin.buffer.read()))))
except ET.ParseError as err:
    print(json.dumps({"error": str(err), "line": err.position[0]}))`;
  const r = spawnSync("python3", ["-c", script], { input: xml });
  assert.equal(r.status, 0, String(r.stderr));
  return JSON.parse(String(r.stdout)) as Tree | { error: string; line: number };
}

/** The first element named `name` in the tree (depth first). */
function find(tree: Tree, name: string): Tree | undefined {
  if (tree.name === name) return tree;
  for (const c of tree.children) {
    const found = find(c, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** What Python's plistlib reads from `xml`: the value, or the error. */
function plistlib(xml: string): { value?: unknown; error?: string } {
  const script = `import json, plistlib, sys
try:
    print(json.dumps({"value": plistlib.loads(sys.stdin.buffer.read())}))
except Exception as err:
    print(json.dumps({"error": type(err).__name__ + ": " + str(err)}))`;
  const r = spawnSync("python3", ["-c", script], { input: xml });
  assert.equal(r.status, 0, String(r.stderr));
  return JSON.parse(String(r.stdout)) as { value?: unknown; error?: string };
}

const refused = (file: string, content: string, message: RegExp) =>
  assert.throws(
    () => importFile(file, content),
    (e: unknown) => e instanceof ImportError && e.code === "ERR_KEYPIN_IMPORT" && message.test(e.message),
  );
const only = (file: string, content: string): ImportedSource => {
  const { sources } = importFile(file, content);
  assert.equal(sources.length, 1);
  return sources[0]!;
};

const overrideXml = `<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
    <domain-config>
        <domain includeSubdomains="&#116;rue">&#97;pi.example.com</domain>
        <trust-anchors>
            <certificates src="user" overridePins="&#x74;rue"/>
            <certificates src="system"/>
        </trust-anchors>
        <pin-set>
            <pin digest="SHA-&#50;56">&#65;${b64(1).slice(1)}</pin>
            <pin digest="SHA-256">${b64(2)}</pin>
        </pin-set>
    </domain-config>
</network-security-config>
`;

test("Android: character references in attributes and text are read as expat reads them (includeSubdomains, overridePins, digest, domain, pin)", () => {
  const tree = expat(overrideXml) as Tree;
  assert.equal(find(tree, "domain")!.attributes.includeSubdomains, "true");
  assert.equal(find(tree, "domain")!.text, "api.example.com");
  assert.equal(find(tree, "certificates")!.attributes.overridePins, "true");
  assert.equal(find(tree, "pin")!.attributes.digest, "SHA-256");
  const source = only("network_security_config.xml", overrideXml);
  assert.deepEqual(
    source.domains.map((d) => [d.domain, d.includeSubdomains, d.pins.map((p) => p.pin)]),
    [["api.example.com", true, [P(1), P(2)]]],
  );
  const overrides = source.findings.filter((f) => /overridePins="true" on "user"/.test(f.message));
  assert.equal(overrides.length, 1);
  assert.equal(overrides[0]!.place.line, 6);
});

test("Android: an entity whose text is markup (expat builds <trust-anchors> from it) is refused, naming its line", () => {
  const xml = `<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE network-security-config [
  <!ENTITY anchors "<trust-anchors><certificates src='user' overridePins='true'/></trust-anchors>">
]>
<network-security-config>
    <domain-config>
        <domain>api.example.com</domain>
        &anchors;
        <pin-set><pin digest="SHA-256">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin></pin-set>
    </domain-config>
</network-security-config>
`;
  const tree = expat(xml) as Tree;
  assert.equal(find(tree, "certificates")!.attributes.overridePins, "true");
  refused("nsc.xml", xml, /^nsc\.xml:3: <!ENTITY anchors> holds markup or a reference/);
  // A character reference that makes markup once the entity is read is markup too.
  refused(
    "nsc.xml",
    xml
      .replace(`"<trust-anchors>`, `"&#60;trust-anchors>`)
      .replace("<trust-anchors><cert", "&#60;trust-anchors><cert"),
    /^nsc\.xml:3: <!ENTITY anchors> holds markup or a reference/,
  );
});

test("Android: <!ATTLIST> is refused: expat gives every <certificates> its default overridePins", () => {
  const xml = `<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE network-security-config [
  <!-- a comment is fine -->
  <!ATTLIST certificates overridePins CDATA "true">
]>
<network-security-config>
    <domain-config>
        <domain>api.example.com</domain>
        <trust-anchors><certificates src="user"/></trust-anchors>
        <pin-set><pin digest="SHA-256">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin></pin-set>
    </domain-config>
</network-security-config>
`;
  assert.equal(find(expat(xml) as Tree, "certificates")!.attributes.overridePins, "true");
  refused("nsc.xml", xml, /^nsc\.xml:4: the DOCTYPE declares <!ATTLIST>/);
});

test("Android: what expat refuses is refused at its line: undefined entities, references to characters XML forbids", () => {
  const doc = (domain: string) =>
    `<network-security-config>\n  <domain-config>\n    <domain>${domain}</domain>\n  </domain-config>\n</network-security-config>\n`;
  for (const [domain, message] of [
    ["api&nbsp;example.com", /^nsc\.xml:3: &nbsp; is not a defined entity/],
    ["api.example.com&#0;", /^nsc\.xml:3: "&#0;" is not a character XML allows/],
    ["api.example.com&#xD800;", /^nsc\.xml:3: "&#xD800;" is not a character XML allows/],
    ["api.example.com&#x110000;", /^nsc\.xml:3: "&#x110000;" is not a character XML allows/],
    ["api.example.com&#X74;", /^nsc\.xml:3: not well-formed XML/],
  ] as const) {
    const control = expat(doc(domain));
    assert.ok("error" in control, domain);
    assert.equal(control.line, 3, domain);
    refused("nsc.xml", doc(domain), message);
  }
  // A plain-text entity is read, as expat reads it.
  const withEntity = `<!DOCTYPE network-security-config [<!ENTITY api "api.example.com">]>\n${doc(
    "&api;",
  ).replace("</domain>", `</domain><pin-set><pin digest="SHA-256">${b64(1)}</pin></pin-set>`)}`;
  assert.equal(find(expat(withEntity) as Tree, "domain")!.text, "api.example.com");
  assert.deepEqual(
    only("nsc.xml", withEntity).domains.map((d) => d.domain),
    ["api.example.com"],
  );
});

test("Android: nested, parameter and external entities are refused, and entities that expand past 1 MiB", () => {
  const laughs = `<!DOCTYPE network-security-config [
<!ENTITY a0 "ha">
<!ENTITY a1 "&a0;&a0;&a0;&a0;&a0;&a0;&a0;&a0;&a0;&a0;">
]>
<network-security-config>&a1;</network-security-config>`;
  refused("nsc.xml", laughs, /^nsc\.xml:3: <!ENTITY a1> holds markup or a reference/);
  refused(
    "nsc.xml",
    `<!DOCTYPE network-security-config [\n<!ENTITY e SYSTEM "file:///etc/passwd">\n]>\n<network-security-config>&e;</network-security-config>`,
    /^nsc\.xml:2: <!ENTITY e> is an external entity/,
  );
  refused(
    "nsc.xml",
    `<!DOCTYPE network-security-config [\n<!ENTITY % p "x">\n]>\n<network-security-config></network-security-config>`,
    /^nsc\.xml:2: the DOCTYPE declares a parameter entity/,
  );
  const wide = `<!DOCTYPE network-security-config [<!ENTITY w "${"x".repeat(3000)}">]>\n<network-security-config>\n${"&w;".repeat(400)}</network-security-config>`;
  refused("nsc.xml", wide, /^nsc\.xml:3: the DTD's entities expand to more than 1048576 characters/);
});

test("Android: boolean attributes are read in the spellings aapt2 compiles (true, True, TRUE, trimmed) and other values refused", () => {
  // aapt2 ResourceUtils::ParseBool: TrimWhitespace, then true/TRUE/True or false/FALSE/False; XmlBlock's
  // getAttributeBooleanValue reads the compiled boolean (a number or colour is read by other rules: refused).
  const doc = (sub: string, override: string) => `<network-security-config>
  <domain-config>
    <domain includeSubdomains="${sub}">api.example.com</domain>
    <trust-anchors><certificates src="user" overridePins="${override}"/></trust-anchors>
    <pin-set><pin digest="SHA-256">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin></pin-set>
  </domain-config>
</network-security-config>`;
  const read = (sub: string, override: string) => {
    const s = only("nsc.xml", doc(sub, override));
    return [s.domains[0]!.includeSubdomains, s.findings.some((f) => /overridePins="true"/.test(f.message))];
  };
  assert.deepEqual(read("TRUE", "True"), [true, true]);
  assert.deepEqual(read(" true&#10;", "&#9;TRUE "), [true, true]);
  assert.deepEqual(read("False", "FALSE"), [false, false]);
  refused(
    "nsc.xml",
    doc("yes", "false"),
    /^nsc\.xml:3: <domain includeSubdomains="yes">: Android reads only true or false/,
  );
  refused(
    "nsc.xml",
    doc("true", "1"),
    /^nsc\.xml:4: <certificates overridePins="1">: Android reads only true or false/,
  );
  // In debug-overrides overridePins defaults to true: "FALSE" turns it off there too.
  const debug = `<network-security-config><debug-overrides><trust-anchors>
<certificates src="@raw/a" overridePins="FALSE"/><certificates src="@raw/b"/>
</trust-anchors></debug-overrides></network-security-config>`;
  assert.match(only("nsc.xml", debug).findings[0]!.message, /trusts @raw\/a, @raw\/b \(overriding pins\);/);
});

const plist = (key: string, hash: string) => `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>TSKConfiguration</key><dict><key>TSKPinnedDomains</key><dict>
<key>${key}</key><dict><key>TSKPublicKeyHashes</key><array><string>${hash}</string><string>${b64(2)}</string></array></dict>
</dict></dict></dict></plist>
`;
const hashesOf = (value: unknown, key: string) =>
  (value as Record<string, Record<string, Record<string, Record<string, string[]>>>>).TSKConfiguration!
    .TSKPinnedDomains![key]!.TSKPublicKeyHashes!;

test("iOS plist: character references in keys and strings are read (as CFPropertyList and plistlib read them)", () => {
  const xml = plist("api.&#101;xample.com", `&#x41;${b64(1).slice(1)}`);
  assert.deepEqual(hashesOf(plistlib(xml).value, "api.example.com"), [b64(1), b64(2)]);
  const s = only("Info.plist", xml);
  assert.deepEqual(
    s.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]),
    [["api.example.com", [P(1), P(2)]]],
  );
});

test("iOS plist: a string's white space is kept, as CFPropertyList keeps it: a padded hash is not a pin", () => {
  const xml = plist("api.example.com", ` ${b64(1)}\n`);
  assert.deepEqual(hashesOf(plistlib(xml).value, "api.example.com"), [` ${b64(1)}\n`, b64(2)]);
  const s = only("Info.plist", xml);
  assert.deepEqual(
    s.domains.map((d) => d.pins.map((p) => p.pin)),
    [[P(2)]],
  );
  assert.ok(
    s.findings.some(
      (f) => f.kind === "dropped" && /has white space around it, which the plist keeps/.test(f.message),
    ),
  );
});

test("iOS plist: DTD entities and references CFPropertyList reads otherwise are refused", () => {
  const withEntity = plist("&api;", b64(1)).replace(
    `"http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `"http://www.apple.com/DTDs/PropertyList-1.0.dtd" [<!ENTITY api "api.example.com">]>`,
  );
  assert.match(plistlib(withEntity).error ?? "", /entity declarations are not supported/i);
  refused("Info.plist", withEntity, /^Info\.plist:4: &api; names a DTD entity: CFPropertyList reads only/);
  // plistlib (expat) reads U+1F600; CFPropertyList keeps 16 bits of the reference (U+F600).
  const astral = plist("api.example.com&#x1F600;", b64(1));
  assert.ok(plistlib(astral).value !== undefined);
  refused("Info.plist", astral, /^Info\.plist:4: "&#x1F600;" is beyond U\+FFFF/);
});
