// `keypin export`, run as users run it: the built CLI (npm run build first), in a temporary folder.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exportPolicy } from "@keypin/export";
import { makePki, makeTempDir, runCliSync } from "@keypin/testkit";
import { goldenDir, goldenPolicy, repoRoot } from "./helpers.js";

/** `keypin export …args` in `cwd`. */
const keypin = (cwd: string, ...args: string[]) => runCliSync(["export", ...args], { cwd });

function assertOneLineError(result: ReturnType<typeof keypin>, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout, "", "nothing on stdout");
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
  assert.match(lines[0] ?? "", pattern);
}

describe("keypin export (built CLI)", () => {
  const tmp = makeTempDir("keypin-cli-");
  const cwd = tmp.dir;

  before(() => {
    assert.ok(
      existsSync(join(repoRoot, "packages", "cli", "dist", "commands", "export.js")),
      "run `npm run build` first",
    );
    writeFileSync(join(cwd, "keypin.json"), readFileSync(new URL("keypin.json", goldenDir)));
    writeFileSync(join(cwd, "rich.json"), readFileSync(new URL("keypin.rich.json", goldenDir)));
  });
  after(() => tmp.remove());

  it("prints the export on stdout when there is no --out", () => {
    const r = keypin(cwd, "--format", "okhttp-java");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      exportPolicy(goldenPolicy("keypin.json"), "okhttp-java", { source: "keypin.json" }).content,
    );
  });

  it("writes --out (creating folders), and --check passes on the fresh export", () => {
    const out = "app/src/main/res/xml/network_security_config.xml";
    const written = keypin(cwd, "--format", "android-nsc", "--out", out);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, "");
    assert.match(
      written.stderr,
      /android:networkSecurityConfig="@xml\/network_security_config"/,
      "the manifest attribute is printed",
    );
    assert.equal(
      readFileSync(join(cwd, out), "utf8"),
      exportPolicy(goldenPolicy("keypin.json"), "android-nsc", { source: "keypin.json", out }).content,
    );
    const check = keypin(cwd, "--check", "--format", "android-nsc", "--out", `./${out}`);
    assert.equal(check.code, 0, check.stderr);
  });

  it("--check exits 1 on a one-character drift and says where", () => {
    const out = "PinningConfig.kt";
    assert.equal(keypin(cwd, "-f", "okhttp-kotlin", "-o", out).code, 0);
    const text = readFileSync(join(cwd, out), "utf8");
    const at = text.indexOf("sha256/") + 10;
    writeFileSync(join(cwd, out), text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1));
    const line = text.slice(0, at).split("\n").length;
    const r = keypin(cwd, "--check", "--format", "okhttp-kotlin", "--out", out);
    assertOneLineError(
      r,
      1,
      new RegExp(
        `PinningConfig\\.kt is not what keypin\\.json generates today: first difference at line ${line}:`,
      ),
    );
  });

  it("--check exits 1 when the file does not exist", () => {
    const r = keypin(cwd, "--check", "--format", "trustkit", "--out", "missing/PinningConfig.swift");
    assertOneLineError(r, 1, /missing\/PinningConfig\.swift: .*not what keypin\.json generates/);
  });

  it("refuses a lossy export with exit 2 and one line naming the field and the platform", () => {
    const r = keypin(cwd, "--format", "ios-ats", "--policy", "rich.json");
    assertOneLineError(r, 2, /App Transport Security.*\/domains\/myapp\.com\/expires.*--allow-lossy/);
  });

  it("with --allow-lossy writes the file and prints every difference on stderr", () => {
    const r = keypin(
      cwd,
      "--format",
      "okhttp-java",
      "--policy",
      "rich.json",
      "--allow-lossy",
      "--out",
      "rich.java",
    );
    assert.equal(r.code, 0, r.stderr);
    const differences = r.stderr.split("\n").filter((l) => l.startsWith("difference (--allow-lossy): "));
    assert.deepEqual(
      differences.map((l) => l.replace("difference (--allow-lossy): ", "").split(":")[0]),
      ["/domains/myapp.com/expires", "/domains/myapp.com/reportUris", "/domains/beta.other.com/mode"],
    );
    assert.match(r.stderr, /hold until the app is updated/);
    assert.match(readFileSync(join(cwd, "rich.java"), "utf8"), /DIFFERENCES from rich\.json/);
  });

  it("answers bad input with one line and exit 2", () => {
    assertOneLineError(keypin(cwd, "--format", "windows-phone"), 2, /unknown format "windows-phone"/);
    assertOneLineError(keypin(cwd, "--format", "node", "--policy", "nope.json"), 2, /nope\.json/);
    writeFileSync(join(cwd, "broken.json"), '{ "domains": { "a.com": { "pins": [ }');
    assertOneLineError(keypin(cwd, "--format", "node", "--policy", "broken.json"), 2, /broken\.json/);
    assertOneLineError(keypin(cwd, "--check", "--format", "node"), 2, /--check.*needs --out/);
    assertOneLineError(
      keypin(cwd, "--format", "ios-ats", "--debug-proxy-ca", "keypin.json"),
      2,
      /android-nsc/,
    );
    assertOneLineError(
      keypin(cwd, "--format", "android-nsc", "--debug-proxy-ca", "keypin.json"),
      2,
      /keypin\.json.*certificate/,
    );
  });

  it("--debug-proxy-ca adds debug-overrides for a real CA certificate and says where to copy it", () => {
    mkdirSync(join(cwd, "pki"), { recursive: true });
    makePki(join(cwd, "pki"), ["localhost"]);
    const r = keypin(cwd, "--format", "android-nsc", "--debug-proxy-ca", "pki/ca.pem");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<certificates src="@raw\/ca" overridePins="true"\/>/);
    assert.match(r.stderr, /Copy pki\/ca\.pem to app\/src\/main\/res\/raw\/ca\.pem/);
  });

  it("--debug-proxy-ca refuses a file with the CA's private key in one line, and writes nothing", () => {
    mkdirSync(join(cwd, "pki"), { recursive: true });
    makePki(join(cwd, "pki"), ["localhost"]);
    const both =
      readFileSync(join(cwd, "pki", "ca.key"), "utf8") + readFileSync(join(cwd, "pki", "ca.pem"), "utf8");
    writeFileSync(join(cwd, "pki", "mitmproxy-ca.pem"), both);
    const out = join(cwd, "refused", "network_security_config.xml");
    const r = keypin(
      cwd,
      "--format",
      "android-nsc",
      "--debug-proxy-ca",
      "pki/mitmproxy-ca.pem",
      "--out",
      out,
    );
    assertOneLineError(r, 2, /pki\/mitmproxy-ca\.pem holds a private key.*mitmproxy-ca-cert\.pem/);
    assert.doesNotMatch(r.stderr, /BEGIN|MIG|MHc/, "no key material on stderr");
    assert.equal(existsSync(out), false);
  });
});
