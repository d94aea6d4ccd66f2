// keypin export --format android-nsc --audit-ca FILE: a debug-only debug-overrides that trusts the audit CA and keeps
// the pins (overridePins="false"), read back with a real XML parser; the debug proxy CA option, the control, lets
// its CA override them. The audit CA is the one `keypin audit` makes, its key never copied.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadOrCreateAuditCa } from "@keypin/audit";
import { makeTempDir, policyOf, runCli, unrelatedPin } from "@keypin/testkit";
import { DOMParser } from "@xmldom/xmldom";

function parse(xml: string) {
  const errors: string[] = [];
  const doc = new DOMParser({
    // xmldom 0.8 reports an unclosed element as a warning: every report counts.
    errorHandler: (_level: string, message: string) => errors.push(message),
  }).parseFromString(xml, "text/xml");
  assert.deepEqual(errors, []);
  return doc;
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
  const overrides = doc.getElementsByTagName("debug-overrides");
  assert.equal(overrides.length, 1);
  const certs = overrides[0]!.getElementsByTagName("certificates");
  assert.equal(certs.length, 1);
  assert.equal(certs[0]!.getAttribute("src"), "@raw/keypin_audit_ca");
  assert.equal(certs[0]!.getAttribute("overridePins"), "false");
  assert.equal(doc.getElementsByTagName("pin").length, 2, "the pins are still written");
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
  const controlCerts = parse(control.stdout).getElementsByTagName("certificates");
  assert.equal(controlCerts[0]!.getAttribute("overridePins"), "true");

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
