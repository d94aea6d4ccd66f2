// isKeypinError recognizes a KeypinError from any copy of @keypin/core: two versions in one app, one bundle
// per CLI command, another realm. instanceof, the control, does not.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import vm from "node:vm";
import { build } from "esbuild";
import { isKeypinError, KeypinError, KeypinParseError, PolicyError } from "./errors.js";

type Core = typeof import("./index.js");

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));
let dir = "";
let copyA: Core;
let copyB: Core;

async function bundleCore(format: "esm" | "iife"): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: "neutral",
    format,
    globalName: format === "iife" ? "keypinCore" : undefined,
    target: "es2022",
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keypin-core-copies-"));
  // Two files with the same code are two module instances, each with its own KeypinError class: what an app
  // gets with two versions of @keypin/core, or the CLI with one bundle per command.
  const code = await bundleCore("esm");
  writeFileSync(join(dir, "core-a.mjs"), code);
  writeFileSync(join(dir, "core-b.mjs"), code);
  copyA = (await import(pathToFileURL(join(dir, "core-a.mjs")).href)) as Core;
  copyB = (await import(pathToFileURL(join(dir, "core-b.mjs")).href)) as Core;
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  assert.fail("expected a throw");
}

describe("isKeypinError", () => {
  it("recognizes errors of another copy of the module, where instanceof does not", () => {
    assert.notEqual(copyA.KeypinError, copyB.KeypinError);
    const fromB = [
      new copyB.KeypinError("ERR_KEYPIN_PIN_MISMATCH", "no pinned key"),
      thrown(() => copyB.parsePin("sha256/short")),
      thrown(() => copyB.parseCertificate(new Uint8Array([0x30, 0x03, 0x02]))),
      thrown(() => copyB.parsePolicy({ domains: {} })),
    ];
    for (const error of fromB) {
      // The control: instanceof only knows its own copy's class.
      assert.equal(error instanceof copyA.KeypinError, false);
      assert.equal(error instanceof KeypinError, false);
      assert.equal(copyA.isKeypinError(error), true);
      assert.equal(isKeypinError(error), true);
    }
    const [, pinError, parseError, policyError] = fromB as KeypinError[];
    assert.equal(pinError!.code, "ERR_KEYPIN_PIN_FORMAT");
    assert.equal(parseError!.code, "ERR_KEYPIN_PARSE");
    assert.equal(policyError!.code, "ERR_KEYPIN_POLICY");
    // And the other way round.
    assert.equal(copyB.isKeypinError(new KeypinParseError("bad", 3)), true);
    assert.equal(copyB.isKeypinError(new PolicyError([{ path: "", message: "m" }])), true);
  });

  it("recognizes errors made in another realm (a vm context)", async () => {
    const context = vm.createContext({});
    vm.runInContext(await bundleCore("iife"), context);
    const error = vm.runInContext(
      `try { keypinCore.parsePin("not a pin"); } catch (e) { e; }`,
      context,
    ) as unknown;
    assert.equal(
      error instanceof Error,
      false,
      "an Error of another realm is no instanceof this realm's Error",
    );
    assert.equal(isKeypinError(error), true);
    assert.equal((error as KeypinError).code, "ERR_KEYPIN_PIN_FORMAT");
  });

  it("refuses what only looks like a KeypinError", () => {
    const lookalikes: unknown[] = [
      Object.assign(new Error("x"), { code: "ERR_KEYPIN_PIN_MISMATCH", name: "KeypinError" }),
      { code: "ERR_KEYPIN_PARSE", message: "x", name: "KeypinParseError" },
      Object.create(KeypinError.prototype),
      { [Symbol("keypin.error")]: true },
      { [Symbol.for("keypin.error")]: "yes" },
      JSON.parse(JSON.stringify(new KeypinError("ERR_KEYPIN_PARSE", "x"))),
      null,
      undefined,
      "ERR_KEYPIN_PARSE",
      42,
    ];
    for (const value of lookalikes) assert.equal(isKeypinError(value), false, inspect(value));
    assert.equal(isKeypinError(new KeypinError("ERR_KEYPIN_PARSE", "x")), true);
  });

  it("leaves the error as it was: the brand is not enumerable, not printed, not copied", () => {
    const error = new KeypinError("ERR_KEYPIN_TIMEOUT", "No TLS handshake within 10 ms");
    assert.equal(Object.getOwnPropertySymbols(error).length, 1);
    assert.deepEqual(Object.getOwnPropertySymbols({ ...error }), [], "a spread copy carries no brand");
    assert.deepEqual(Object.keys(error).sort(), ["code", "name"]);
    assert.doesNotMatch(inspect(error), /keypin\.error/);
    assert.equal(error.name, "KeypinError");
    // Not writable: code that reuses an error object cannot unbrand it by accident.
    assert.throws(() => {
      (error as unknown as Record<symbol, unknown>)[Symbol.for("keypin.error")] = false;
    }, TypeError);
  });
});
