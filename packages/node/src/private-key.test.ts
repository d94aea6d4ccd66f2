import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KeypinError } from "@keypin/core";
import { spkiOfPrivateKey } from "./private-key.js";

const dir = mkdtempSync(join(tmpdir(), "keypin-key-"));
const openssl = (...args: string[]): Buffer => execFileSync("openssl", args, { cwd: dir });
const file = (name: string): string => join(dir, name);
/** Encrypts a key of `dir` as PKCS#8 with the passphrase "s3cret"; `options` choose the cipher and form. */
const encryptPkcs8 = (from: string, to: string, ...options: string[]): Buffer =>
  openssl("pkcs8", "-topk8", "-in", file(from), ...options, "-passout", "pass:s3cret", "-out", file(to));

before(() => {
  openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file("rsa.pem"));
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("p256.pem"));
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", file("p384.pem"));
  openssl("genpkey", "-algorithm", "ED25519", "-out", file("ed25519.pem"));
  openssl("rsa", "-in", file("rsa.pem"), "-traditional", "-out", file("rsa-pkcs1.pem"));
  openssl("ec", "-in", file("p256.pem"), "-out", file("p256-sec1.pem"));
  openssl("pkey", "-in", file("p384.pem"), "-outform", "DER", "-out", file("p384.der"));
  encryptPkcs8("p256.pem", "p256-enc.pem", "-v2", "aes-256-cbc");
  openssl(
    "rsa",
    "-in",
    file("rsa.pem"),
    "-aes128",
    "-traditional",
    "-passout",
    "pass:s3cret",
    "-out",
    file("rsa-legacy-enc.pem"),
  );
  encryptPkcs8("ed25519.pem", "ed-enc.der", "-outform", "DER");
  // One PBKDF2 iteration, so that trying hundreds of wrong passphrases takes milliseconds each.
  encryptPkcs8("ed25519.pem", "ed-iter1.der", "-iter", "1", "-outform", "DER");
  encryptPkcs8("p256.pem", "p256-iter1.pem", "-v2", "aes-256-cbc", "-iter", "1");
  encryptPkcs8(
    "p256.pem",
    "p256-rc2.pem",
    "-v1",
    "PBE-SHA1-RC2-40",
    "-provider",
    "legacy",
    "-provider",
    "default",
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** What openssl says the public key is: the oracle. */
const opensslSpki = (name: string, passphrase?: string): Buffer =>
  openssl(
    "pkey",
    "-in",
    file(name),
    "-pubout",
    "-outform",
    "DER",
    ...(passphrase ? ["-passin", `pass:${passphrase}`] : []),
  );

describe("spkiOfPrivateKey", () => {
  for (const name of ["rsa.pem", "rsa-pkcs1.pem", "p256.pem", "p256-sec1.pem", "p384.pem", "ed25519.pem"]) {
    test(`gives the same SPKI as openssl for ${name}`, () => {
      assert.deepEqual(Buffer.from(spkiOfPrivateKey(readFileSync(file(name), "utf8"))), opensslSpki(name));
    });
  }

  test("reads a DER private key", () => {
    assert.deepEqual(Buffer.from(spkiOfPrivateKey(readFileSync(file("p384.der")))), opensslSpki("p384.pem"));
  });

  for (const name of ["p256-enc.pem", "rsa-legacy-enc.pem", "ed-enc.der"]) {
    test(`asks for the passphrase of the encrypted key ${name}, and reads it with the passphrase`, () => {
      const key = name.endsWith(".der") ? readFileSync(file(name)) : readFileSync(file(name), "utf8");
      assert.throws(
        () => spkiOfPrivateKey(key),
        (error: unknown) =>
          error instanceof KeypinError &&
          error.code === "ERR_KEYPIN_ENCRYPTED_KEY" &&
          /passphrase/.test(error.message),
      );
      assert.throws(
        () => spkiOfPrivateKey(key, { passphrase: "wrong" }),
        (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_BAD_PASSPHRASE",
      );
      const oracle = name.endsWith(".der") ? opensslSpki("ed25519.pem") : opensslSpki(name, "s3cret");
      assert.deepEqual(Buffer.from(spkiOfPrivateKey(key, { passphrase: "s3cret" })), oracle);
    });
  }

  // AES-CBC checks only the padding: about 1 wrong passphrase in 256 decrypts to garbage that ends in valid
  // padding, and node:crypto then fails in the ASN.1 or key decoder instead of saying "bad decrypt".
  for (const name of ["ed-iter1.der", "p256-iter1.pem", "rsa-legacy-enc.pem"]) {
    test(`calls a wrong passphrase wrong even when its garbage passes the padding check: ${name}`, () => {
      const der = name.endsWith(".der");
      const key = der ? readFileSync(file(name)) : readFileSync(file(name), "utf8");
      let sneaky: { passphrase: string; code: string } | undefined;
      for (let i = 0; i < 20_000 && !sneaky; i++) {
        const passphrase = `wrong-${i}`;
        try {
          createPrivateKey({ key, format: der ? "der" : "pem", type: der ? "pkcs8" : undefined, passphrase });
        } catch (error) {
          const code = (error as { code?: string }).code ?? "";
          if (code !== "ERR_OSSL_BAD_DECRYPT") sneaky = { passphrase, code };
        }
      }
      assert.ok(sneaky, "no wrong passphrase in 20,000 got past the padding check");
      assert.notEqual(sneaky.code, "ERR_OSSL_BAD_DECRYPT");
      assert.throws(
        () => spkiOfPrivateKey(key, { passphrase: sneaky.passphrase }),
        (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_BAD_PASSPHRASE",
      );
    });
  }

  test("says a legacy cipher (RC2) needs re-encrypting, and still asks for a missing passphrase first", () => {
    const key = readFileSync(file("p256-rc2.pem"), "utf8");
    assert.throws(
      () => spkiOfPrivateKey(key, { passphrase: "s3cret" }),
      (error: unknown) =>
        error instanceof KeypinError &&
        error.code === "ERR_KEYPIN_KEY_CIPHER" &&
        /re-encrypt it with AES/.test(error.message),
    );
    assert.throws(
      () => spkiOfPrivateKey(key),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_ENCRYPTED_KEY",
    );
  });

  test("refuses bytes that are no private key, without echoing them", () => {
    assert.throws(
      () => spkiOfPrivateKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_PRIVATE_KEY",
    );
  });
});
