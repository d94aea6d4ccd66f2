// @keypin/core must run in React Native and browsers: no Node globals, no node: imports, no dependencies.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { build } from "esbuild";
import { computePin } from "./pin.js";
import { readKeyMaterial } from "./x509/key-material.js";

const nodeSha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());
const packageDir = fileURLToPath(new URL("..", import.meta.url));

let dir = "";
const pems: Record<string, string> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-core-portable-"));
  for (const [name, args] of [
    ["ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]],
    ["ed25519", ["-algorithm", "ED25519"]],
    ["rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]],
  ] as const) {
    const key = join(dir, `${name}.key`);
    const crt = join(dir, `${name}.crt`);
    execFileSync("openssl", ["genpkey", ...args, "-out", key], { stdio: "pipe" });
    execFileSync(
      "openssl",
      ["req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2", "-subj", `/CN=${name}.portable.test`],
      {
        stdio: "pipe",
      },
    );
    pems[name] = readFileSync(crt, "utf8");
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function bundleCore(): Promise<string> {
  const result = await build({
    entryPoints: [join(packageDir, "src/index.ts")],
    bundle: true,
    write: false,
    platform: "neutral",
    format: "iife",
    globalName: "keypinCore",
    target: "es2022",
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

describe("portability", () => {
  it("bundles for a neutral platform with no node: import and no require", async () => {
    const code = await bundleCore();
    assert.doesNotMatch(code, /["']node:/);
    assert.doesNotMatch(code, /\brequire\(/);
    assert.doesNotMatch(code, /\b(?:Buffer|process)\./);
  });

  it("computes pins and evaluates a policy inside a vm context without require, process or Buffer", async () => {
    const code = await bundleCore();
    const context = vm.createContext({ sha256: nobleSha256, input: JSON.stringify({ pems }) });
    assert.equal(
      vm.runInContext("typeof require + typeof process + typeof Buffer + typeof TextDecoder", context),
      "undefinedundefinedundefinedundefined",
    );
    vm.runInContext(code, context);
    const output = vm.runInContext(
      `(() => {
        const k = keypinCore;
        const { pems } = JSON.parse(input);
        const pins = {};
        for (const [name, pem] of Object.entries(pems)) {
          const [m] = k.readKeyMaterial(pem);
          pins[name] = k.computePin(m.spki, sha256);
        }
        const { policy, warnings } = k.parsePolicy({
          domains: { "api.portable.test": { includeSubdomains: true, pins: [pins.ec, { pin: pins.rsa, role: "backup" }] } },
        });
        const pinned = k.evaluateChain({ policy, host: "V2.API.Portable.Test.", chain: [{ subject: "CN=leaf", pin: pins.ed25519 }, { subject: "CN=ca", pin: pins.ec }] });
        const mismatch = k.evaluateChain({ policy, host: "api.portable.test", chain: [{ subject: "CN=leaf", pin: pins.ed25519 }] });
        let error;
        try { k.parsePin("sha1/abc="); } catch (e) { error = e instanceof k.KeypinError ? e.code : "wrong class"; }
        return JSON.stringify({ pins, warnings: warnings.length, pinned, mismatch: mismatch.verdict, error });
      })()`,
      context,
    );
    const result = JSON.parse(output);
    for (const [name, pem] of Object.entries(pems)) {
      const [m] = readKeyMaterial(pem);
      assert.ok(m && m.kind === "certificate");
      assert.equal(result.pins[name], computePin(m.spki, nodeSha256), name);
    }
    assert.equal(result.warnings, 0);
    assert.deepEqual(result.pinned.matched, { position: 1, subject: "CN=ca", pin: result.pins.ec });
    assert.equal(result.pinned.domain, "api.portable.test");
    assert.equal(result.mismatch, "mismatch");
    assert.equal(result.error, "ERR_KEYPIN_PIN_FORMAT");
  });

  it("gives the same pins with @noble/hashes's sha256 as with node:crypto's", () => {
    for (const pem of Object.values(pems)) {
      const [m] = readKeyMaterial(pem);
      assert.ok(m && m.kind === "certificate");
      assert.equal(computePin(m.spki, nobleSha256), computePin(m.spki, nodeSha256));
    }
  });

  it("declares no runtime dependencies in package.json", () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.peerDependencies, undefined);
    assert.equal(pkg.optionalDependencies, undefined);
  });
});
