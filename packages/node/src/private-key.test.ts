import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KeypinError } from "@keypin/core";
import { spkiOfPrivateKey } from "./private-key.js";

const dir = mkdtempSync(join(tmpdir(), "keypin-key-"));
const openssl = (...args: string[]): Buffer => execFileSync("openssl", args, { cwd: dir });
const file = (name: string): string => join(dir, name);

before(() => {
  openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file("rsa.pem"));
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("p256.pem"));
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", file("p384.pem"));
  openssl("genpkey", "-algorithm", "ED25519", "-out", file("ed25519.pem"));
  openssl("rsa", "-in", file("rsa.pem"), "-traditional", "-out", file("rsa-pkcs1.pem"));
  openssl("ec", "-in", file("p256.pem"), "-out", file("p256-sec1.pem"));
  openssl("pkey", "-in", file("p384.pem"), "-outform", "DER", "-out", file("p384.der"));
  openssl(
    "pkcs8",
    "-topk8",
    "-in",
    file("p256.pem"),
    "-v2",
    "aes-256-cbc",
    "-passout",
    "pass:s3cret",
    "-out",
    file("p256-enc.pem"),
  );
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
  openssl(
    "pkcs8",
    "-topk8",
    "-in",
    file("ed25519.pem"),
    "-passout",
    "pass:s3cret",
    "-outform",
    "DER",
    "-out",
    file("ed-enc.der"),
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

  test("refuses bytes that are no private key, without echoing them", () => {
    assert.throws(
      () => spkiOfPrivateKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_PRIVATE_KEY",
    );
  });
});
