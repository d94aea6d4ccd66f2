// The round trip, as a property: for generated policies, import(export(policy, format)) equals the policy up
// to what the format cannot express, and every difference is one that the exporter or the importer reports.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type DomainPolicy, type PinRole, type Policy, parsePolicy } from "@keypin/core";
import { type ExportFormat, exportPolicy } from "@keypin/export";
import { type ImportedDomain, importFile } from "@keypin/import";
import fc from "fast-check";

const pool = [1, 2, 3, 4, 5].map((b) => `sha256/${Buffer.alloc(32, b).toString("base64")}`);
const hosts = [
  "example.com",
  "api.example.com",
  "a.api.example.com",
  "cdn.example.org",
  "localhost",
  "10.0.0.7",
];
const roles: (PinRole | undefined)[] = ["leaf", "intermediate", "root", "backup", undefined];

const policyArb = fc
  .uniqueArray(
    fc.record({
      host: fc.constantFrom(...hosts),
      includeSubdomains: fc.boolean(),
      pins: fc.uniqueArray(fc.record({ pin: fc.constantFrom(...pool), role: fc.constantFrom(...roles) }), {
        minLength: 1,
        maxLength: 3,
        selector: (p) => p.pin,
      }),
      expires: fc.option(
        fc.date({ min: new Date("2027-01-01"), max: new Date("2031-12-31"), noInvalidDate: true }),
        { nil: undefined },
      ),
      reportOnly: fc.boolean(),
      reportUris: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4, selector: (d) => d.host },
  )
  .map((entries) => {
    const domains: Record<string, unknown> = {};
    for (const e of entries) {
      domains[e.host] = {
        includeSubdomains: e.includeSubdomains,
        pins: e.pins.map((p) => (p.role === undefined ? p.pin : { pin: p.pin, role: p.role })),
        ...(e.expires ? { expires: e.expires.toISOString().slice(0, 10) } : {}),
        ...(e.reportOnly ? { mode: "report-only" } : {}),
        ...(e.reportUris ? { reportUris: ["https://reports.example.net/pins"] } : {}),
      };
    }
    return domains;
  });

const files: Record<Exclude<ExportFormat, "trustkit" | "node">, string> = {
  "android-nsc": "network_security_config.xml",
  "ios-ats": "pinning.plist",
  "okhttp-kotlin": "PinningConfig.kt",
  "okhttp-java": "PinningConfig.java",
  "react-native": "pinning.ts",
};

const pointer = (domain: string, field?: string) =>
  `/domains/${domain}${field === undefined ? "" : `/${field}`}`;
/** The JSON Pointers at which the imported domains differ from the policy's. */
function differingPaths(policy: Policy, imported: ImportedDomain[], format: string): string[] {
  const out: string[] = [];
  for (const d of policy.domains) {
    const got = imported.find((x) => x.domain === d.domain);
    if (got === undefined) {
      out.push(pointer(d.domain));
      continue;
    }
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
    if (
      !same(
        d.pins.map((p) => p.pin),
        got.pins.map((p) => p.pin),
      )
    )
      out.push(pointer(d.domain, "pins"));
    if (format === "ios-ats") {
      // ATS says which pins are leaf keys and which CA keys: that category must survive.
      const category = (r: PinRole | undefined) => (r === "leaf" || r === "backup" ? "leaf" : "ca");
      for (const p of got.pins) {
        const original = d.pins.find((q) => q.pin === p.pin);
        if (original !== undefined)
          assert.equal(category(p.role), category(original.role), `${d.domain} ${p.pin}`);
      }
    }
    if (d.includeSubdomains !== got.includeSubdomains) out.push(pointer(d.domain, "includeSubdomains"));
    if (d.expires !== got.expires) out.push(pointer(d.domain, "expires"));
    if (d.mode !== got.mode) out.push(pointer(d.domain, "mode"));
    if (!same(d.reportUris, got.reportUris)) out.push(pointer(d.domain, "reportUris"));
  }
  for (const got of imported) {
    assert.ok(
      policy.domains.some((d: DomainPolicy) => d.domain === got.domain),
      `${got.domain} was not in the policy`,
    );
  }
  return out;
}

/** Whether a reported path explains a differing one (the same field, or the whole domain). */
const explains = (reported: string, differing: string) =>
  reported === differing || differing.startsWith(`${reported}/`) || reported.startsWith(`${differing}/`);

for (const [format, file] of Object.entries(files) as [keyof typeof files, string][]) {
  test(`import(export(policy, ${format})) is the policy, up to exactly what the exporter and importer report`, () => {
    let checked = 0;
    fc.assert(
      fc.property(policyArb, (domains) => {
        const { policy } = parsePolicy({ domains });
        let exported: ReturnType<typeof exportPolicy>;
        try {
          exported = exportPolicy(policy, format, { allowLossy: true });
        } catch (error) {
          // A loss that even allowLossy refuses to write (it would block traffic the policy never blocks).
          assert.equal((error as { code?: string }).code, "ERR_KEYPIN_LOSSY_EXPORT");
          return;
        }
        checked++;
        const exporterPaths = exported.differences.map((d) => d.slice(0, d.indexOf(": ")));
        const [source] = importFile(file, exported.content).sources;
        assert.ok(source !== undefined);
        // Roles and labels are outside what the formats say (ATS's leaf/CA category is checked above).
        const importerPaths = source.findings
          .map((f) => f.path)
          .filter((p): p is string => p !== undefined && !p.endsWith("/role"));
        const differing = differingPaths(policy, source.domains, format);
        // Every difference is reported…
        for (const path of differing) {
          assert.ok(
            [...exporterPaths, ...importerPaths].some((r) => explains(r, path)),
            `${format}: ${path} differs after the round trip and nobody said so.\nexporter: ${exporterPaths.join(", ")}\nimporter: ${importerPaths.join(", ")}`,
          );
        }
        // …and the importer raises nothing about keypin's own output that the exporter did not report first.
        for (const path of importerPaths) {
          assert.ok(
            exporterPaths.some((r) => explains(r, path)),
            `${format}: the importer reports ${path}, the exporter did not`,
          );
        }
        for (const f of source.findings) assert.notEqual(f.kind, "unreadable", f.message);
        // A field the exporter dropped really is gone (the report is not noise).
        for (const path of exporterPaths) {
          if (/\/(expires|reportUris)$/.test(path))
            assert.ok(
              differing.some((d) => d === path || path.startsWith(`${d}/`)),
              `${format}: ${path} reported lost but survived`,
            );
        }
      }),
      { numRuns: 150, seed: 18 },
    );
    assert.ok(checked > 50, `only ${checked} policies could be exported`);
  });
}

test("expiry converts exactly: the platform's first unpinned day is the day after keypin's last pinned day", () => {
  for (const expires of ["2027-02-28", "2028-02-28", "2028-02-29", "2027-12-31", "2027-03-31"]) {
    const { policy } = parsePolicy({ domains: { "api.example.com": { pins: pool.slice(0, 2), expires } } });
    for (const [format, file] of [
      ["android-nsc", "nsc.xml"],
      ["react-native", "pins.ts"],
    ] as const) {
      const exported = exportPolicy(policy, format);
      const [source] = importFile(file, exported.content).sources;
      assert.equal(source!.domains[0]!.expires, expires, `${format} ${expires}`);
    }
  }
});
