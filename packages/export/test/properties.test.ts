// Faithful or loud, as a property over random policies: an export either refuses (naming fields that
// exist in the policy), or lists differences that each name such a field, or, with no difference at
// all, means exactly what the policy means once read back by a real parser.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import plist from "@expo/plist";
import { type DomainPolicyInput, type Policy, parsePolicy, pinToBase64 } from "@keypin/core";
import { type ExportFormat, exportFormats, exportPolicy, LossyExportError } from "@keypin/export";
import fc from "fast-check";
import { XMLParser } from "fast-xml-parser";

const pool = [1, 2, 3, 4, 5].map((n) => `sha256/${Buffer.alloc(32, n * 17).toString("base64")}`);
const names = ["myapp.com", "api.myapp.com", "v2.api.myapp.com", "other.org", "10.0.0.1"];

// Weighted so that a good share of random policies can be exported faithfully by each platform.
const domainArb: fc.Arbitrary<DomainPolicyInput> = fc
  .record({
    includeSubdomains: fc.constantFrom(false, false, true),
    pins: fc.uniqueArray(
      fc.record({
        pin: fc.constantFrom(...pool),
        role: fc.constantFrom("leaf", "backup", "leaf", "backup", "intermediate", "root", undefined),
      }),
      { minLength: 1, maxLength: 3, selector: (p) => p.pin },
    ),
    expires: fc.constantFrom(undefined, undefined, "2027-06-30", "2030-12-31"),
    mode: fc.constantFrom("enforce" as const, "enforce" as const, "enforce" as const, "report-only" as const),
    reportUris: fc.constantFrom(undefined, undefined, undefined, ["https://reports.myapp.com/pins"]),
  })
  .map((d) => JSON.parse(JSON.stringify(d)) as DomainPolicyInput);

const policyOf = (domains: fc.Arbitrary<DomainPolicyInput>): fc.Arbitrary<Policy> =>
  fc
    .uniqueArray(fc.tuple(fc.constantFrom(...names), domains), {
      minLength: 1,
      maxLength: 3,
      selector: (t) => t[0],
    })
    .map((entries) => parsePolicy({ domains: Object.fromEntries(entries) }).policy);

const policyArb = policyOf(domainArb);

// iOS pins only enforced, exact domains without expiry or reports: about 3% of policyArb's policies, so
// 150 runs would sometimes check no faithful plist at all. Half of the iOS runs draw from this shape,
// which still varies names, pins and roles (mixed leaf and CA roles must still refuse or differ).
const iosShapedArb = policyOf(
  domainArb.map(({ pins }) => ({ pins, includeSubdomains: false, mode: "enforce" as const })),
);

/** Every loss path must point into the policy (the domain exists; the field is one keypin has). */
function assertPathsExist(policy: Policy, paths: string[]): void {
  for (const path of paths) {
    const [, top, domain, field] = path.split("/");
    assert.equal(top, "domains", path);
    const d = policy.domains.find((x) => (x.key ?? x.domain) === domain);
    assert.ok(d, `${path} names a domain of the policy`);
    if (field !== undefined) assert.ok(field in d || field === "expires", `${path} names a field`);
  }
}

interface NscDomainConfig {
  domain: { "#text": string; "@includeSubdomains": string };
  "pin-set": { pin: { "#text": string } | { "#text": string }[]; "@expiration"?: string };
}

/** How many random policies each property exported faithfully (so a property cannot pass vacuously). */
const faithful = new Map<ExportFormat, number>();

function outcome(policy: Policy, format: ExportFormat): { content?: string; paths: string[] } {
  try {
    const { content, differences } = exportPolicy(policy, format, { allowLossy: false });
    assert.deepEqual(differences, [], "no differences without allowLossy");
    faithful.set(format, (faithful.get(format) ?? 0) + 1);
    return { content, paths: [] };
  } catch (error) {
    assert.ok(error instanceof LossyExportError, String(error));
    assert.ok(error.losses.length > 0);
    const blocking = error.losses.filter((l) => l.blocking);
    for (const loss of blocking.length > 0 ? blocking : error.losses) {
      assert.ok(error.message.includes(loss.path), `the message names ${loss.path}`);
    }
    return { paths: error.losses.map((l) => l.path) };
  }
}

const nextDay = (date: string) => {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
};

describe("faithful or loud, over random policies", () => {
  it("android-nsc: without differences, the XML read back pins exactly what the policy pins", () => {
    fc.assert(
      fc.property(policyArb, (policy) => {
        const { content, paths } = outcome(policy, "android-nsc");
        assertPathsExist(policy, paths);
        if (content === undefined) return;
        const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@" }).parse(content);
        const configs = [doc["network-security-config"]["domain-config"]].flat() as NscDomainConfig[];
        assert.equal(configs.length, policy.domains.length);
        for (const d of policy.domains) {
          const c = configs.find((x) => x.domain["#text"] === d.domain)!;
          assert.equal(c.domain["@includeSubdomains"], String(d.includeSubdomains));
          assert.equal(d.mode, "enforce", "a faithful Android export has no report-only domain");
          const pins = [c["pin-set"].pin].flat().map((p) => p["#text"]);
          assert.deepEqual(
            pins,
            d.pins.map((p) => pinToBase64(p.pin)),
          );
          assert.equal(c["pin-set"]["@expiration"], d.expires === undefined ? undefined : nextDay(d.expires));
        }
      }),
      { numRuns: 150 },
    );
    assert.ok((faithful.get("android-nsc") ?? 0) > 5, "some random policies export faithfully");
  });

  it("ios-ats: without differences, the plist read back pins exactly what the policy pins", () => {
    fc.assert(
      fc.property(fc.oneof(policyArb, iosShapedArb), (policy) => {
        const { content, paths } = outcome(policy, "ios-ats");
        assertPathsExist(policy, paths);
        if (content === undefined) return;
        const pinned = JSON.parse(JSON.stringify(plist.default.parse(content))).NSAppTransportSecurity
          .NSPinnedDomains;
        assert.deepEqual(Object.keys(pinned).sort(), policy.domains.map((d) => d.domain).sort());
        for (const d of policy.domains) {
          assert.equal(d.mode, "enforce");
          assert.equal(d.expires, undefined);
          assert.equal(d.includeSubdomains, false);
          const ids = [
            ...(pinned[d.domain].NSPinnedLeafIdentities ?? []),
            ...(pinned[d.domain].NSPinnedCAIdentities ?? []),
          ];
          assert.equal(ids.length, d.pins.length, "every pin is placed");
          assert.ok(
            !(pinned[d.domain].NSPinnedLeafIdentities && pinned[d.domain].NSPinnedCAIdentities),
            "one category",
          );
        }
      }),
      { numRuns: 150 },
    );
    // About 18 of 150 on average; none would happen about 1 run in 10^8.
    assert.ok((faithful.get("ios-ats") ?? 0) > 0, "some random policies export faithfully");
  });

  it("okhttp: without differences, every domain's add() calls carry exactly its pins", () => {
    fc.assert(
      fc.property(policyArb, (policy) => {
        const { content, paths } = outcome(policy, "okhttp-java");
        assertPathsExist(policy, paths);
        if (content === undefined) return;
        const calls = [
          ...content.matchAll(/\.add\(\n\s+"([^"]+)",\n((?:\s+"sha256\/[^"]+",?(?: \/\/[^\n]*)?\n)+)\s+\)/g),
        ].map((m) => ({ pattern: m[1]!, pins: [...m[2]!.matchAll(/"(sha256\/[^"]+)"/g)].map((p) => p[1]) }));
        for (const d of policy.domains) {
          assert.equal(d.mode, "enforce");
          assert.equal(d.expires, undefined);
          const patterns = d.includeSubdomains ? [d.domain, `**.${d.domain}`] : [d.domain];
          for (const pattern of patterns) {
            assert.deepEqual(
              calls.find((c) => c.pattern === pattern)?.pins,
              d.pins.map((p) => p.pin),
              pattern,
            );
          }
        }
      }),
      { numRuns: 150 },
    );
    assert.ok((faithful.get("okhttp-java") ?? 0) > 5, "some random policies export faithfully");
  });

  it("every format, with allowLossy, either writes a difference for each loss or refuses a blocking one", () => {
    fc.assert(
      fc.property(policyArb, fc.constantFrom(...exportFormats), (policy, format) => {
        let strict: LossyExportError | undefined;
        try {
          exportPolicy(policy, format);
        } catch (error) {
          assert.ok(error instanceof LossyExportError);
          strict = error;
        }
        try {
          const { content, differences } = exportPolicy(policy, format, { allowLossy: true });
          assert.equal(differences.length, strict?.losses.length ?? 0, "one difference per loss");
          for (const d of differences) assert.ok(content.replace(/\s+/g, " ").includes(d.split(":")[0]!));
        } catch (error) {
          assert.ok(error instanceof LossyExportError && error.losses.some((l) => l.blocking), String(error));
        }
      }),
      { numRuns: 200 },
    );
  });
});
