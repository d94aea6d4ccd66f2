// A lossy export names the concrete fix, and the fix it names makes the export exact.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DomainPolicyInput, type Policy, parsePolicy } from "@keypin/core";
import { type ExportFormat, exportPolicy, LossyExportError } from "@keypin/export";

const pin = (n: number) => `sha256/${Buffer.alloc(32, n * 29).toString("base64")}`;
const policyOf = (d: DomainPolicyInput): Policy => parsePolicy({ domains: { "api.myapp.com": d } }).policy;
const leafCaBackup: DomainPolicyInput = {
  pins: [
    { pin: pin(1), role: "leaf" },
    { pin: pin(2), role: "intermediate" },
    { pin: pin(3), role: "backup" },
  ],
};

function refusal(policy: Policy, format: ExportFormat): LossyExportError {
  try {
    exportPolicy(policy, format);
  } catch (error) {
    assert.ok(error instanceof LossyExportError, String(error));
    return error;
  }
  assert.fail(`${format} exported the policy exactly`);
}

describe("lossy exports name the fix", () => {
  it("ios-ats on leaf + CA + backup: names the CA pin to drop, the CA-only alternative and TrustKit", () => {
    const error = refusal(policyOf(leafCaBackup), "ios-ats");
    assert.match(error.message, /drop the CA pin \(pins 1: intermediate\) and keep the leaf and backup keys/);
    assert.match(error.message, /certbot --reuse-key/);
    assert.match(error.message, /drop pins 0, 2 \(leaf\/backup\) and pin CA keys only/);
    assert.match(error.message, /--format trustkit, which accepts any one pin/);
    assert.match(error.message, /pass allowLossy/, "the library names its own option");
    assert.match(error.messageFor("--allow-lossy"), /pass --allow-lossy/);
    assert.doesNotMatch(error.messageFor("--allow-lossy"), /allowLossy/);
    // Each fix it names makes the export exact.
    const [leaf, ca, backup] = leafCaBackup.pins;
    assert.doesNotThrow(() => exportPolicy(policyOf({ pins: [leaf!, backup!] }), "ios-ats"));
    assert.doesNotThrow(() =>
      exportPolicy(policyOf({ pins: [ca!, { pin: pin(4), role: "root" }] }), "ios-ats"),
    );
    assert.deepEqual(exportPolicy(policyOf(leafCaBackup), "trustkit").differences, []);
  });

  it("ios-ats with includeSubdomains: TrustKit carries it, and does", () => {
    const policy = policyOf({
      ...leafCaBackup,
      pins: leafCaBackup.pins.slice(0, 1).concat(leafCaBackup.pins[2]!),
      includeSubdomains: true,
    });
    const error = refusal(policy, "ios-ats");
    assert.match(error.message, /includeSubdomains: .*fix: export for iOS with --format trustkit/);
    assert.deepEqual(exportPolicy(policy, "trustkit").differences, []);
  });

  it("trustkit and react-native on one enforced pin: add a backup pin at the pins' pointer, and that suffices", () => {
    const one = policyOf({ pins: [{ pin: pin(1), role: "leaf" }] });
    for (const format of ["trustkit", "react-native"] as const) {
      const error = refusal(one, format);
      assert.match(error.message, /fix: add a second pin to \/domains\/api\.myapp\.com\/pins: a backup key/);
    }
    const two = policyOf({
      pins: [
        { pin: pin(1), role: "leaf" },
        { pin: pin(3), role: "backup" },
      ],
    });
    for (const format of ["trustkit", "react-native"] as const) {
      assert.deepEqual(exportPolicy(two, format).differences, []);
    }
  });

  it("okhttp and ios-ats on an expiry: remove it; a pin without a role: give it one", () => {
    const expiring = policyOf({
      ...leafCaBackup,
      pins: [leafCaBackup.pins[0]!, leafCaBackup.pins[2]!],
      expires: "2030-01-01",
    });
    for (const format of ["okhttp-kotlin", "ios-ats"] as const) {
      assert.match(refusal(expiring, format).message, /fix: remove \/domains\/api\.myapp\.com\/expires/);
    }
    const roleless = policyOf({ pins: [pin(1), { pin: pin(3), role: "backup" }] });
    assert.match(
      refusal(roleless, "ios-ats").message,
      /fix: give \/domains\/api\.myapp\.com\/pins\/0 a "role"/,
    );
  });
});
