import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { computePin } from "@keypin/core";
import { sha256 } from "./sha256.js";

const dir = mkdtempSync(join(tmpdir(), "keypin-sha256-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The oracle: openssl's SHA-256 of the same bytes, as hex. */
function opensslSha256(bytes: Uint8Array): string {
  const file = join(dir, `in-${bytes.length}`);
  writeFileSync(file, bytes);
  return execFileSync("openssl", ["dgst", "-sha256", "-r", file], { encoding: "utf8" }).split(" ")[0]!;
}

const inputs = [new Uint8Array(0), new Uint8Array([1, 2, 3]), randomBytes(294), randomBytes(70_000)];

describe("sha256 (node:crypto adapter for @keypin/core)", () => {
  it("gives openssl's digest as a 32-byte Uint8Array", () => {
    for (const input of inputs) {
      const digest = sha256(input);
      assert.ok(digest instanceof Uint8Array);
      assert.equal(digest.length, 32);
      assert.equal(Buffer.from(digest).toString("hex"), opensslSha256(input));
    }
    // A view into a larger buffer hashes only its own bytes.
    const big = randomBytes(1000);
    assert.equal(
      Buffer.from(sha256(big.subarray(100, 400))).toString("hex"),
      opensslSha256(big.subarray(100, 400)),
    );
  });

  it("gives openssl's digest as base64 in its base64 form, which computePin uses", () => {
    assert.equal(typeof sha256.base64, "function");
    for (const input of [...inputs, randomBytes(1000).subarray(100, 400)]) {
      const hex = opensslSha256(input);
      assert.equal(sha256.base64!(input), Buffer.from(hex, "hex").toString("base64"));
      assert.equal(computePin(input, sha256), `sha256/${Buffer.from(hex, "hex").toString("base64")}`);
    }
  });

  it("falls back to createHash where crypto.hash is missing (Node 20.0–20.11)", () => {
    const source = fileURLToPath(new URL("./sha256.ts", import.meta.url));
    const script = `
      const crypto = require("node:crypto");
      delete crypto.hash;
      let created = 0;
      const createHash = crypto.createHash;
      crypto.createHash = (...args) => (created++, createHash(...args));
      require("node:module").syncBuiltinESMExports();
      import(${JSON.stringify(source)}).then(async ({ sha256 }) => {
        const c = await import("node:crypto");
        if (typeof c.hash !== "undefined") throw new Error("crypto.hash still present");
        const input = Buffer.from(process.argv[1], "hex");
        const before = created; // the loader may hash files of its own
        const hex = Buffer.from(sha256(input)).toString("hex");
        const base64 = sha256.base64(input);
        process.stdout.write(hex + " " + base64 + " createHash calls: " + (created - before));
      });`;
    for (const input of inputs.slice(0, 3)) {
      const hex = Buffer.from(input).toString("hex");
      const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script, hex], {
        encoding: "utf8",
      });
      const digest = opensslSha256(input);
      assert.equal(out, `${digest} ${Buffer.from(digest, "hex").toString("base64")} createHash calls: 2`);
    }
  });
});
