// npm run test:interop (review 2, findings 5 and 6): random policies that validation accepts, with
// hostile pin labels (any code point validation lets through, comment terminators, Java's \u escapes,
// Kotlin's $, quotes) and report URIs (random text, kept only when validation keeps it), and hostile source
// paths, exported to every format and handed to the real parsers: javac and kotlinc against Debian's
// OkHttp, esbuild then `node --check` for the TypeScript outputs, python3's expat and plistlib for the XML
// and plist. Missing tools fail these tests; they never skip.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Policy, validatePolicy } from "@keypin/core";
import { exportPolicy, LossyExportError } from "@keypin/export";
import { makeTempDir } from "@keypin/testkit";
import { transformSync } from "esbuild";
import fc from "fast-check";
import { okhttpClasspath, requireTools } from "./okhttp-harness.js";

const pin = (n: number) => `sha256/${Buffer.alloc(32, n).toString("base64")}`;
const label = fc.oneof(
  fc.string({ unit: "binary", maxLength: 16 }),
  fc.constantFrom(
    "*/ x /*",
    "\\u000a\\u0022",
    "-- -->",
    "$x $\u007By}",
    '"\\',
    "`$\u007Ba}`",
    "]]>",
    "\u2028\u2029\u0085",
  ),
);
const uri = fc.oneof(
  fc.webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true }),
  fc.string({ unit: "binary", maxLength: 12 }).map((s) => `https://r.example.com/${s}`),
  fc.constantFrom("https://r.example.com/a$b'c(d)*+,;=:@", "http://[::1]:9/%22"),
);
const policies = fc
  .dictionary(
    fc.oneof(fc.domain(), fc.constantFrom("api.example.com", "example.com")),
    fc.record({
      includeSubdomains: fc.boolean(),
      pins: fc.uniqueArray(
        fc.record({
          pin: fc.constantFrom(pin(1), pin(2), pin(3)),
          role: fc.constantFrom("leaf", "backup", "root"),
          label,
        }),
        { minLength: 2, maxLength: 3, selector: (p) => p.pin },
      ),
      reportUris: fc.array(uri, { maxLength: 2 }),
    }),
    { minKeys: 1, maxKeys: 3 },
  )
  .map((domains) => validatePolicy({ domains }))
  .filter((r) => r.ok)
  .map((r) => (r.ok ? r.policy : (undefined as never)));
const source = fc.string({ unit: "binary", maxLength: 12 });

describe("generated files from validated policies with hostile text, read by real compilers and parsers", () => {
  const tmp = makeTempDir("keypin-hostile-");
  after(() => tmp.remove());

  it("javac, kotlinc, esbuild + node --check, expat and plistlib accept every output", () => {
    requireTools(["javac", "kotlinc", "python3"], okhttpClasspath);
    const samples = fc.sample(fc.tuple(policies, source), 25) as [Policy, string][];
    const java: string[] = [];
    const kotlin: string[] = [];
    const js: string[] = [];
    const documents: string[] = [];
    samples.forEach(([policy, src], i) => {
      const write = (name: string, content: string) => {
        const dir = join(tmp.dir, `p${i}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, name), content);
        return join(dir, name);
      };
      const options = { allowLossy: true, source: `${src}.json` };
      const exported = (format: Parameters<typeof exportPolicy>[1], extra = {}) => {
        try {
          return exportPolicy(policy, format, { ...options, ...extra }).content;
        } catch (error) {
          assert.ok(error instanceof LossyExportError, `${format}: ${String(error)}`);
          return undefined;
        }
      };
      const j = exported("okhttp-java", { packageName: `p.n${i}` });
      if (j !== undefined) java.push(write("PinningConfig.java", j));
      const k = exported("okhttp-kotlin", { packageName: `p.n${i}` });
      if (k !== undefined) kotlin.push(write("PinningConfig.kt", k));
      for (const format of ["node", "react-native"] as const) {
        const ts = exported(format);
        if (ts !== undefined)
          js.push(write(`${format}.mjs`, transformSync(ts, { loader: "ts", format: "esm" }).code));
      }
      // No Swift compiler here: trustkit must at least write (its literals are checked by the property
      // test in writable.test.ts and by stringLiteral itself).
      exported("trustkit");
      const nsc = exported("android-nsc");
      if (nsc !== undefined) documents.push(write("nsc.xml", nsc));
      const ats = exported("ios-ats");
      if (ats !== undefined) documents.push(write("ats.plist", ats));
    });
    assert.ok(java.length > 10 && kotlin.length > 10 && js.length > 20 && documents.length > 20);

    const classpath = okhttpClasspath.join(":");
    execFileSync("javac", ["-cp", classpath, "-d", join(tmp.dir, "classes"), ...java], { stdio: "pipe" });
    execFileSync("kotlinc", ["-cp", classpath, "-d", join(tmp.dir, "kclasses"), ...kotlin], {
      stdio: "pipe",
    });
    for (const file of js) execFileSync(process.execPath, ["--check", file], { stdio: "pipe" });
    const parsed = execFileSync(
      "python3",
      [
        "-c",
        `
import sys, plistlib, xml.etree.ElementTree as E
for f in sys.argv[1:]:
    if f.endswith(".plist"):
        with open(f, "rb") as h: plistlib.load(h)
    else:
        E.parse(f)
print(len(sys.argv) - 1)
`,
        ...documents,
      ],
      { encoding: "utf8" },
    );
    assert.equal(parsed.trim(), String(documents.length));
  });
});
