// The react-native output type-checks against react-native-ssl-public-key-pinning@1.2.6's published types.
// The package is committed as its npm tarball (test/fixtures), checked against the registry's integrity
// hash: installing it from npm would pull react-native into the lockfile as a peer dependency. Its
// .d.ts files import two types from react-native (TurboModule, EmitterSubscription); a two-line stub
// provides them, and skipLibCheck stays off so the library's own declarations are checked too.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { exportPolicy } from "@keypin/export";
import { makeTempDir } from "@keypin/testkit";
import ts from "typescript";
import { goldenPolicy } from "./helpers.js";

const tarball = new URL("./fixtures/react-native-ssl-public-key-pinning-1.2.6.tgz", import.meta.url);
/** `npm view react-native-ssl-public-key-pinning@1.2.6 dist.integrity` */
const registryIntegrity =
  "sha512-WrWCRgXSet/lw8VVgrnTM5RXI+YWmSxE4+PmWcxFOUq7Kea+arkYASvDD1Dajw6yFGEw4GYuvIRdp6s7KxO60Q==";

function setUpProject(dir: string): void {
  const lib = join(dir, "node_modules", "react-native-ssl-public-key-pinning");
  mkdirSync(lib, { recursive: true });
  execFileSync("tar", ["-xzf", tarball.pathname, "-C", lib, "--strip-components=1"]);
  const rn = join(dir, "node_modules", "react-native");
  mkdirSync(rn, { recursive: true });
  writeFileSync(join(rn, "package.json"), JSON.stringify({ name: "react-native", types: "index.d.ts" }));
  writeFileSync(
    join(rn, "index.d.ts"),
    "export interface TurboModule {}\nexport interface EmitterSubscription { remove(): void }\n",
  );
}

let previous: ts.Program | undefined;

function typeCheck(dir: string, source: string): string[] {
  const file = join(dir, "pinning.ts");
  writeFileSync(file, source);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    verbatimModuleSyntax: true,
    types: [],
    lib: ["lib.es2022.d.ts"],
  };
  // Reusing the previous program's unchanged files (the standard library) keeps each check fast.
  const program = ts.createProgram([file], options, ts.createCompilerHost(options), previous);
  previous = program;
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

describe("react-native output against react-native-ssl-public-key-pinning@1.2.6", () => {
  it("uses the tarball the npm registry publishes (integrity hash)", () => {
    const digest = createHash("sha512").update(readFileSync(tarball)).digest("base64");
    assert.equal(`sha512-${digest}`, registryIntegrity);
  });

  it("type-checks against the library's published declarations", () => {
    using tmp = makeTempDir("keypin-rn-types-");
    setUpProject(tmp.dir);
    const { content } = exportPolicy(goldenPolicy("keypin.rich.json"), "react-native", { allowLossy: true });
    assert.ok(content.includes("expirationDate"), "the checked output uses every DomainOptions field");
    assert.deepEqual(typeCheck(tmp.dir, content), []);
    const plain = exportPolicy(goldenPolicy("keypin.json"), "react-native").content;
    assert.deepEqual(typeCheck(tmp.dir, plain), []);
  });

  it("would catch a wrong field name or type (the check can fail)", () => {
    using tmp = makeTempDir("keypin-rn-types-neg-");
    setUpProject(tmp.dir);
    const { content } = exportPolicy(goldenPolicy("keypin.json"), "react-native");
    const typo = content.replaceAll("includeSubdomains:", "includeSubdomain:");
    assert.ok(typeCheck(tmp.dir, typo).some((m) => m.includes("includeSubdomain")));
    const wrongType = content.replace(/publicKeyHashes: \[/, "publicKeyHashes: [42, ");
    assert.ok(typeCheck(tmp.dir, wrongType).some((m) => m.includes("number")));
  });
});
