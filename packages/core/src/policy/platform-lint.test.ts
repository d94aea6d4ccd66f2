import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PolicyFile } from "../types.js";
import { lintPolicy } from "./lint.js";
import { LINT_PLATFORMS, type LintPlatform } from "./platform-lint.js";
import { parsePolicy } from "./validate.js";

const pin = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;

/** The platform findings of one domain entry, as `platform code` strings. */
function findings(
  entry: Record<string, unknown>,
  platforms: readonly LintPlatform[],
  host = "api.myapp.com",
) {
  const file = { domains: { [host]: entry } } as unknown as PolicyFile;
  const { policy } = parsePolicy(file);
  return lintPolicy(policy, { now: new Date("2026-06-01T00:00:00Z"), platforms })
    .filter((f) => f.platform !== undefined)
    .map((f) => `${f.platform} ${f.code}`);
}

const twoPins = [
  { pin: pin(1), role: "leaf" },
  { pin: pin(2), role: "backup" },
];
/** ATS leaf identities done right: the leaf key and a backup, and renewals that keep the leaf key. */
const leafSet = { pins: twoPins, renewal: { reuseKey: true } };

describe("lint by platform rules", () => {
  it("gives no platform finding unless platforms are asked for, and none for a policy every platform expresses", () => {
    const { policy } = parsePolicy({
      domains: { "api.myapp.com": leafSet },
    } as unknown as PolicyFile);
    assert.equal(
      lintPolicy(policy).some((f) => f.platform !== undefined),
      false,
    );
    assert.deepEqual(findings(leafSet, LINT_PLATFORMS), []);
  });

  it("TrustKit and React Native refuse fewer than two enforced pins; Android and OkHttp do not care", () => {
    assert.deepEqual(findings({ pins: [pin(1)] }, LINT_PLATFORMS), [
      "trustkit trustkit-two-pins",
      "react-native trustkit-two-pins",
    ]);
    assert.deepEqual(findings({ pins: [pin(1)], mode: "report-only" }, ["trustkit"]), []);
  });

  it("ATS covers one extra label; OkHttp 3.x's **. matches nothing; TrustKit and Android cover any depth", () => {
    assert.deepEqual(findings({ ...leafSet, includeSubdomains: true }, LINT_PLATFORMS), [
      "ios-ats ats-one-label",
      "okhttp-kotlin okhttp3-subdomains",
      "okhttp-java okhttp3-subdomains",
      "react-native okhttp3-subdomains",
    ]);
  });

  it("ATS's AND rule: leaf (or backup) and CA identities together", () => {
    const mixed = [
      { pin: pin(1), role: "leaf" },
      { pin: pin(2), role: "intermediate" },
      { pin: pin(3), role: "backup" },
    ];
    assert.deepEqual(findings({ pins: mixed }, ["ios-ats", "android-nsc"]), ["ios-ats ats-and-rule"]);
    const caOnly = [
      { pin: pin(2), role: "intermediate" },
      { pin: pin(3), role: "root" },
    ];
    assert.deepEqual(findings({ pins: caOnly }, ["ios-ats"]), []);
  });

  it("ATS leaf identities need renewals that keep the leaf key, recorded as renewal.reuseKey", () => {
    // Without the record (or with it false), the first renewal with a new key locks the app out on iOS only.
    assert.deepEqual(findings({ pins: twoPins }, LINT_PLATFORMS), ["ios-ats ats-leaf-renewal"]);
    assert.deepEqual(findings({ pins: twoPins, renewal: { reuseKey: false } }, ["ios-ats"]), [
      "ios-ats ats-leaf-renewal",
    ]);
    assert.deepEqual(findings(leafSet, ["ios-ats"]), []);
    // Not a leaf identity set: CA keys only, a backup alone, or report-only (ATS enforces anyway: no-report-only).
    const caOnly = [
      { pin: pin(2), role: "intermediate" },
      { pin: pin(3), role: "root" },
    ];
    assert.deepEqual(findings({ pins: caOnly }, ["ios-ats"]), []);
    assert.deepEqual(findings({ pins: [{ pin: pin(2), role: "backup" }, pin(3)] }, ["ios-ats"]), []);
    assert.deepEqual(findings({ pins: twoPins, mode: "report-only" }, ["ios-ats"]), [
      "ios-ats no-report-only",
    ]);
    // Leaf and CA keys are the AND rule's finding, not this one.
    assert.deepEqual(findings({ pins: [...twoPins, { pin: pin(3), role: "intermediate" }] }, ["ios-ats"]), [
      "ios-ats ats-and-rule",
    ]);
    const { policy } = parsePolicy({
      domains: { "API.myapp.com": { pins: twoPins, renewal: { reuseKey: false } } },
    } as unknown as PolicyFile);
    const [finding] = lintPolicy(policy, { platforms: ["ios-ats"] }).filter((f) => f.platform);
    assert.equal(finding?.path, "/domains/API.myapp.com/renewal");
    assert.match(finding?.message ?? "", /"renewal\.reuseKey" is false/);
    assert.match(finding?.message ?? "", /certbot --reuse-key/);
    assert.match(finding?.message ?? "", /"renewal": \{ "reuseKey": true \}/);
  });

  it("expiry fails open on Android and TrustKit, and does not exist on ATS and OkHttp", () => {
    assert.deepEqual(findings({ ...leafSet, expires: "2027-01-31" }, LINT_PLATFORMS), [
      "android-nsc expiry-fails-open",
      "ios-ats no-expiry",
      "trustkit expiry-fails-open",
      "okhttp-kotlin no-expiry",
      "okhttp-java no-expiry",
    ]);
  });

  it("ATS always enforces, and neither ATS nor TrustKit pins an IP address", () => {
    assert.deepEqual(findings({ ...leafSet, mode: "report-only" }, ["ios-ats"]), ["ios-ats no-report-only"]);
    assert.deepEqual(findings(leafSet, ["ios-ats", "trustkit", "android-nsc"], "10.0.0.1"), [
      "ios-ats ip-not-pinnable",
      "trustkit ip-not-pinnable",
    ]);
  });

  it("points each finding at the entry's JSON Pointer and names the domain", () => {
    const { policy } = parsePolicy({
      domains: { "API.myapp.com": { pins: twoPins, expires: "2027-01-31" } },
    } as unknown as PolicyFile);
    const [finding] = lintPolicy(policy, { platforms: ["android-nsc"] }).filter((f) => f.platform);
    assert.equal(finding?.path, "/domains/API.myapp.com/expires");
    assert.equal(finding?.domain, "api.myapp.com");
  });
});
