// keypin export --format android-nsc --audit-ca FILE: a debug-only debug-overrides that trusts the audit CA and keeps
// the pins (overridePins="false"), read back with a real XML parser; the debug proxy CA option, the control, lets
// its CA override them. The audit CA is the one `keypin audit` makes, its key never copied.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadOrCreateAuditCa } from "@keypin/audit";
import { makeTempDir, policyOf, runCli, unrelatedPin } from "@keypin/testkit";
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** An element as fast-xml-parser's preserveOrder form gives it: its name, attributes and children. */
interface Element {
  name: string;
  attributes: Record<string, string>;
  children: Element[];
}

/** Parses with a real XML parser (and its validator: a malformed document throws); elements in document order. */
function parse(xml: string): { elements(name: string): Element[] } {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const tree = new XMLParser({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: "" }).parse(
    xml,
  );
  const all: Element[] = [];
  const walk = (nodes: Record<string, unknown>[]): Element[] =>
    nodes.flatMap((node) => {
      const name = Object.keys(node).find((k) => k !== ":@");
      if (!name || name.startsWith("#") || name.startsWith("?")) return [];
      const element: Element = {
        name,
        attributes: (node[":@"] as Record<string, string> | undefined) ?? {},
        children: [],
      };
      all.push(element);
      element.children = walk(node[name] as Record<string, unknown>[]);
      return [element];
    });
  walk(tree as Record<string, unknown>[]);
  return { elements: (name: string) => all.filter((e) => e.name === name) };
}

/** The elements named `name` inside `parent`, at any depth. */
function within(parent: Element, name: string): Element[] {
  return parent.children.flatMap((e) => [...(e.name === name ? [e] : []), ...within(e, name)]);
}

test("the XML reader refuses a malformed document (so the checks below read real XML)", () => {
  assert.throws(() => parse("<a><b></a>"));
});

test('--audit-ca writes debug-overrides with overridePins="false"; --debug-proxy-ca (the control) overrides; not both', async () => {
  using tmp = makeTempDir("keypin-export-audit-");
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const policy = join(tmp.dir, "keypin.json");
  writeFileSync(policy, JSON.stringify(policyOf({ "api.example.com": [unrelatedPin(), unrelatedPin()] })));
  const out = join(tmp.dir, "nsc.xml");
  const run = await runCli([
    "export",
    "--format",
    "android-nsc",
    "--policy",
    policy,
    "--audit-ca",
    ca.certPath,
    "--out",
    out,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const doc = parse(readFileSync(out, "utf8"));
  const overrides = doc.elements("debug-overrides");
  assert.equal(overrides.length, 1);
  const certs = within(overrides[0]!, "certificates");
  assert.equal(certs.length, 1);
  assert.equal(certs[0]!.attributes["src"], "@raw/keypin_audit_ca");
  assert.equal(certs[0]!.attributes["overridePins"], "false");
  assert.equal(doc.elements("pin").length, 2, "the pins are still written");
  assert.ok(!readFileSync(out, "utf8").includes(readFileSync(ca.keyPath, "utf8").split("\n")[1]!));

  const control = await runCli([
    "export",
    "--format",
    "android-nsc",
    "--policy",
    policy,
    "--debug-proxy-ca",
    ca.certPath,
  ]);
  assert.equal(control.code, 0, control.stderr);
  const controlCerts = parse(control.stdout).elements("certificates");
  assert.equal(controlCerts[0]!.attributes["overridePins"], "true");

  const both = await runCli([
    "export",
    "--format",
    "android-nsc",
    "--policy",
    policy,
    "--audit-ca",
    ca.certPath,
    "--debug-proxy-ca",
    ca.certPath,
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /not both/);
  const ios = await runCli(["export", "--format", "ios-ats", "--policy", policy, "--audit-ca", ca.certPath]);
  assert.equal(ios.code, 2);
  // The CA's key file is refused as an audit CA (it would be copied into the app).
  const key = await runCli([
    "export",
    "--format",
    "android-nsc",
    "--policy",
    policy,
    "--audit-ca",
    ca.keyPath,
  ]);
  assert.equal(key.code, 2);
});
