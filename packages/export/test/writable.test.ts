// Review 2, findings 5, 6 and 8: what exportPolicy is given is validated, and what validation accepts every
// exporter can write. The oracles are python3's xml.etree (expat, the parser aapt2 uses) and plistlib, run
// on the written documents, and the built CLI.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type DomainPolicyInput, type Policy, PolicyError, parsePolicy, validatePolicy } from "@keypin/core";
import {
  buildAtsPinnedDomains,
  type ExportFormat,
  exportFormats,
  exportPolicy,
  LossyExportError,
} from "@keypin/export";
import { makeTempDir, runCliSync } from "@keypin/testkit";
import fc from "fast-check";

const P1 = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const P2 = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;
const P3 = `sha256/${Buffer.alloc(32, 3).toString("base64")}`;
const optionsFor = (format: ExportFormat) =>
  format.startsWith("okhttp") ? { allowLossy: true, packageName: "com.example.pins" } : { allowLossy: true };

const tmp = makeTempDir("keypin-writable-");
after(() => tmp.remove());

/**
 * Parses each file with python3: `.xml` with xml.etree (expat), `.plist` with plistlib. Returns, per file,
 * "ok <domains>" (the android domains, or the NSPinnedDomains keys) or "error <message>".
 */
function pythonParse(files: string[]): string[] {
  const script = `
import sys, json, plistlib, xml.etree.ElementTree as E
out = []
for f in sys.argv[1:]:
    try:
        if f.endswith(".plist"):
            with open(f, "rb") as h:
                d = plistlib.load(h)
            out.append("ok " + ",".join(sorted(d["NSAppTransportSecurity"]["NSPinnedDomains"].keys())))
        else:
            root = E.parse(f).getroot()
            out.append("ok " + ",".join(sorted(e.text for e in root.iter("domain"))))
    except Exception as e:
        out.append("error " + type(e).__name__ + ": " + str(e))
print(json.dumps(out))
`;
  return JSON.parse(execFileSync("python3", ["-c", script, ...files], { encoding: "utf8" })) as string[];
}

let written = 0;
function writeDoc(content: string, ext: "xml" | "plist"): string {
  const file = join(tmp.dir, `doc-${written++}.${ext}`);
  writeFileSync(file, content);
  return file;
}

const policyWithLabel = (label: string): Policy =>
  ({
    domains: [
      {
        domain: "api.example.com",
        includeSubdomains: false,
        mode: "enforce",
        reportUris: [],
        pins: [
          { pin: P1, role: "leaf", label },
          { pin: P2, role: "backup" },
        ],
      },
    ],
  }) as Policy;

describe("export: every text in XML and plist output is XML 1.0 (review 2, finding 5)", () => {
  const hostile = [
    "\uffff",
    "\ufffe",
    "\ud800",
    "\udfff",
    "\u0000",
    "\u000b",
    "\u001f",
    "\uffff\ufffe--\ud83d",
  ];

  it("refuses a policy object whose pin label holds a character XML cannot hold, in every format (PolicyError, not a broken file)", () => {
    for (const bad of hostile) {
      for (const format of exportFormats) {
        assert.throws(
          () => exportPolicy(policyWithLabel(`key ${bad}`), format, optionsFor(format)),
          (e: unknown) =>
            e instanceof PolicyError &&
            e.code === "ERR_KEYPIN_POLICY" &&
            /\/domains\/0\/pins\/0\/label: "label" holds U\+[0-9A-F]{4} at index \d+, which XML 1\.0 cannot hold/.test(
              e.message,
            ),
          `${format}, ${JSON.stringify(bad)}`,
        );
      }
    }
  });

  it("writes a source path holding U+FFFF, U+FFFE, unpaired surrogates or C0 controls into headers expat and plistlib parse", () => {
    const { policy } = parsePolicy({
      domains: {
        "api.example.com": {
          pins: [
            { pin: P1, role: "leaf", label: "a -- b" },
            { pin: P2, role: "backup" },
          ],
        },
      },
    });
    const files: string[] = [];
    for (const bad of hostile) {
      const source = `conf/${bad}keypin${bad}.json`;
      files.push(writeDoc(exportPolicy(policy, "android-nsc", { source }).content, "xml"));
      files.push(writeDoc(exportPolicy(policy, "ios-ats", { source }).content, "plist"));
      files.push(
        writeDoc(
          exportPolicy(policy, "android-nsc", { source, debugProxyCa: `ca${bad}.pem` }).content,
          "xml",
        ),
      );
    }
    assert.deepEqual(
      pythonParse(files),
      files.map(() => "ok api.example.com"),
    );
  });

  it("writes, for random labels validation accepts and random source paths, documents expat and plistlib parse with the policy's domains", () => {
    const cases: { label: string; source: string }[] = [];
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 20 }),
        fc.string({ unit: "binary", maxLength: 20 }),
        (label, source) => {
          cases.push({ label, source });
        },
      ),
      { numRuns: 150, seed: 5 },
    );
    const files: string[] = [];
    let refused = 0;
    for (const { label, source } of cases) {
      const doc = {
        domains: {
          "api.example.com": {
            pins: [
              { pin: P1, role: "leaf", label },
              { pin: P2, role: "backup" },
            ],
          },
        },
      };
      const result = validatePolicy(doc);
      if (!result.ok) {
        refused++;
        for (const format of ["android-nsc", "ios-ats"] as const)
          assert.throws(() => exportPolicy(policyWithLabel(label), format), PolicyError);
        continue;
      }
      files.push(writeDoc(exportPolicy(result.policy, "android-nsc", { source }).content, "xml"));
      files.push(writeDoc(exportPolicy(result.policy, "ios-ats", { source }).content, "plist"));
    }
    assert.ok(refused > 10 && files.length > 100, `${refused} refused, ${files.length} files`);
    assert.deepEqual(
      pythonParse(files),
      files.map(() => "ok api.example.com"),
    );
  });

  it("keypin export (the built CLI) writes android-nsc and ios-ats files expat and plistlib parse from a policy path holding U+FFFF", () => {
    const dir = join(tmp.dir, "cli");
    mkdirSync(dir, { recursive: true });
    const name = "\uffffa\ufffe.json";
    writeFileSync(
      join(dir, name),
      JSON.stringify({
        domains: {
          "api.example.com": {
            pins: [
              { pin: P1, role: "leaf", label: "k" },
              { pin: P2, role: "backup" },
            ],
          },
        },
      }),
    );
    for (const [format, out] of [
      ["android-nsc", "nsc.xml"],
      ["ios-ats", "ats.plist"],
    ] as const) {
      const r = runCliSync(["export", "--format", format, "--policy", name, "--out", out], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(pythonParse([join(dir, "nsc.xml"), join(dir, "ats.plist")]), [
      "ok api.example.com",
      "ok api.example.com",
    ]);
    assert.ok(readFileSync(join(dir, "nsc.xml"), "utf8").includes("a"), "the header names the file");
  });

  it("the CLI refuses a keypin.json whose label holds U+FFFF, exit 2, naming the field", () => {
    const dir = join(tmp.dir, "cli-label");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "keypin.json"),
      JSON.stringify({
        domains: {
          "api.example.com": {
            pins: [
              { pin: P1, role: "leaf", label: "key \uffff" },
              { pin: P2, role: "backup" },
            ],
          },
        },
      }),
    );
    const r = runCliSync(["export", "--format", "android-nsc", "--allow-lossy", "--out", "nsc.xml"], {
      cwd: dir,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /\/domains\/api\.example\.com\/pins\/0\/label: "label" holds U\+FFFF at index 4/);
  });
});

// Validated policies over the whole input space keypin.json allows: random hosts (names, IP addresses),
// pins and roles, modes, expiry, labels and report URIs (random text and URLs, kept when validation keeps them).
const pinArb = fc.record(
  {
    pin: fc.constantFrom(P1, P2, P3),
    role: fc.constantFrom("leaf", "backup", "intermediate", "root"),
    label: fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("*/", "\\u000a", "--", "$x", '"', "`"),
    ),
  },
  { requiredKeys: ["pin"] },
);
const uriArb = fc.oneof(
  fc.webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true }),
  fc.string({ unit: "binary", maxLength: 12 }).map((s) => `https://r.example.com/${s}`),
  fc.constantFrom(
    "https://r.example.com/\u00e9",
    'https://r.example.com/"',
    "https://r.example.com/$x\\u0041",
    "http://[::1]:9/r",
  ),
);
const entryArb: fc.Arbitrary<DomainPolicyInput> = fc
  .record(
    {
      includeSubdomains: fc.boolean(),
      pins: fc.uniqueArray(pinArb, { minLength: 1, maxLength: 3, selector: (p) => p.pin }),
      expires: fc.constantFrom("2027-06-30", "2031-01-01"),
      mode: fc.constantFrom("enforce", "report-only"),
      reportUris: fc.array(uriArb, { maxLength: 2 }),
    },
    { requiredKeys: ["pins"] },
  )
  .map((d) => d as DomainPolicyInput);
const hostArb = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom("localhost", "API.Example.com.", "xn--bcher-kva.example", "a.example.com"),
);
const validatedPolicyArb = fc
  .dictionary(hostArb, entryArb, { minKeys: 1, maxKeys: 3 })
  .map((domains) => validatePolicy({ domains }))
  .filter((r) => r.ok)
  .map((r) => (r.ok ? r.policy : (undefined as never)));

describe("export: no exporter fails on a validated policy (review 2, finding 6)", () => {
  it("refuses a report URI with a non-ASCII character at validation (the trustkit crash of the review), and trustkit writes its %-encoded form", () => {
    const doc = (uri: string) => ({
      domains: { "api.example.com": { pins: [P1, { pin: P2, role: "backup" }], reportUris: [uri] } },
    });
    const r = validatePolicy(doc("https://r.example.com/\u00e9"));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? (r.problems[0]?.message ?? "") : "", /RFC 3986.*U\+00E9 at index 22/);
    const { policy } = parsePolicy(doc("https://r.example.com/%C3%A9"));
    assert.match(exportPolicy(policy, "trustkit").content, /"https:\/\/r\.example\.com\/%C3%A9"/);
    const handMade = structuredClone(policyWithLabel("k")) as { domains: { reportUris: string[] }[] };
    handMade.domains[0]!.reportUris = ["https://r.example.com/\u00e9"];
    assert.throws(() => exportPolicy(handMade as unknown as Policy, "trustkit"), PolicyError);
  });

  it("every format either writes a validated policy or refuses it with a LossyExportError, never another error", () => {
    let writtenCount = 0;
    fc.assert(
      fc.property(validatedPolicyArb, (policy) => {
        for (const format of exportFormats) {
          for (const allowLossy of [false, true]) {
            try {
              const r = exportPolicy(policy, format, { ...optionsFor(format), allowLossy });
              assert.equal(typeof r.content, "string");
              writtenCount++;
            } catch (error) {
              assert.ok(
                error instanceof LossyExportError,
                `${format}: ${String(error)} for ${JSON.stringify(policy)}`,
              );
            }
          }
        }
      }),
      { numRuns: 200 },
    );
    assert.ok(writtenCount > 500, `only ${writtenCount} written`);
  });
});

describe("exportPolicy validates the Policy object it is given (review 2, finding 8)", () => {
  const base = policyWithLabel("k").domains[0]!;
  const cases: [string, unknown][] = [
    ["a domain __proto__ (the review's example)", { domains: [{ ...base, domain: "__proto__" }] }],
    ["a domain with markup", { domains: [{ ...base, domain: "<a>.example.com" }] }],
    ["a domain with a space", { domains: [{ ...base, domain: "a b.example.com" }] }],
    ["a URL as domain", { domains: [{ ...base, domain: "https://api.example.com" }] }],
    ["a wildcard", { domains: [{ ...base, domain: "*.example.com" }] }],
    ["two entries for one host", { domains: [base, { ...base, domain: "API.example.com." }] }],
    ["an unknown mode", { domains: [{ ...base, mode: "enforced" }] }],
    ["a pin that is not a pin", { domains: [{ ...base, pins: [{ pin: "sha256/short" }] }] }],
    ["no domains", {}],
  ];
  for (const [name, policy] of cases) {
    it(`refuses ${name} with a PolicyError in every format, and buildAtsPinnedDomains too`, () => {
      for (const format of exportFormats) {
        assert.throws(
          () => exportPolicy(policy as Policy, format, optionsFor(format)),
          (e: unknown) => e instanceof PolicyError && e.code === "ERR_KEYPIN_POLICY",
          format,
        );
      }
      assert.throws(() => buildAtsPinnedDomains(policy as Policy, { allowLossy: true }), PolicyError);
    });
  }

  it("writes a hand-made policy with a host spelled API.Example.com. as the host it names (api.example.com)", () => {
    const policy = { domains: [{ ...base, domain: "API.Example.com." }] } as Policy;
    const file = writeDoc(exportPolicy(policy, "ios-ats").content, "plist");
    const nsc = writeDoc(exportPolicy(policy, "android-nsc").content, "xml");
    assert.deepEqual(pythonParse([file, nsc]), ["ok api.example.com", "ok api.example.com"]);
  });
});
