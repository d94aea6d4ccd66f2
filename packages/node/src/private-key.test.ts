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
  // A DSA key (small parameters: its load is cheap here, the refusal is by kind) in every form OpenSSL writes.
  openssl(
    "genpkey",
    "-genparam",
    "-algorithm",
    "DSA",
    "-pkeyopt",
    "dsa_paramgen_bits:1024",
    "-out",
    file("dsa.params"),
  );
  openssl("genpkey", "-paramfile", file("dsa.params"), "-out", file("dsa.pem"));
  openssl("pkey", "-in", file("dsa.pem"), "-traditional", "-out", file("dsa-traditional.pem"));
  openssl("pkey", "-in", file("dsa.pem"), "-outform", "DER", "-out", file("dsa.der"));
  encryptPkcs8("dsa.pem", "dsa-enc.pem", "-v2", "aes-256-cbc", "-iter", "1");
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

  // OpenSSL derives a DSA key's public half as g^x mod p for a prime of any size (a 65,536-bit one took five
  // minutes), so a DSA key is refused by its kind before OpenSSL reads it, encrypted or not.
  for (const [name, passphrase] of [
    ["dsa.pem", undefined],
    ["dsa-traditional.pem", undefined],
    ["dsa.der", undefined],
    ["dsa-enc.pem", "s3cret"],
  ] as const) {
    test(`refuses the DSA key ${name} before loading it (the control: openssl reads it)`, () => {
      assert.ok(opensslSpki(name, passphrase).length > 0, "openssl reads the key");
      const key = name.endsWith(".der") ? readFileSync(file(name)) : readFileSync(file(name), "utf8");
      assert.throws(
        () => spkiOfPrivateKey(key, passphrase === undefined ? {} : { passphrase }),
        (error: unknown) =>
          error instanceof KeypinError &&
          error.code === "ERR_KEYPIN_PRIVATE_KEY" &&
          /a DSA key: keypin pins RSA, EC and EdDSA keys; it was not loaded/.test(error.message),
      );
    });
  }

  test("refuses an encrypted key asking for 2^31 - 1 PBKDF2 iterations before running one", () => {
    // openssl's own p256-enc.pem, with its iteration count (2048, INTEGER 02 02 08 00) replaced by 2^31 - 1.
    const pem = readFileSync(file("p256-enc.pem"), "utf8");
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    const at = der.indexOf(Buffer.from([0x02, 0x02, 0x08, 0x00]));
    assert.ok(at > 0, "the iteration count is where openssl writes it");
    const bigger = Buffer.concat([
      der.subarray(0, at),
      Buffer.from([0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]),
      der.subarray(at + 4),
    ]);
    // Two more bytes: the lengths of the five SEQUENCEs around the count grow by two (each is 0x30 0x81 LL or 0x30 LL).
    const fixed = Buffer.from(bigger);
    const grow = (offset: number): number => {
      assert.equal(fixed[offset], 0x30);
      if (fixed[offset + 1]! < 0x80) {
        fixed[offset + 1]! += 2;
        return offset + 2;
      }
      const n = fixed[offset + 1]! & 0x7f;
      let length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + fixed[offset + 2 + i]!;
      length += 2;
      for (let i = n - 1; i >= 0; i--) {
        fixed[offset + 2 + i] = length & 0xff;
        length >>= 8;
      }
      return offset + 2 + n;
    };
    // EncryptedPrivateKeyInfo > AlgorithmIdentifier > PBES2-params > keyDerivationFunc > PBKDF2-params.
    let offset = grow(0);
    offset = grow(offset);
    offset += 11; // the PBES2 OID
    offset = grow(offset);
    offset = grow(offset);
    offset += 11; // the PBKDF2 OID
    grow(offset);
    // The oracle: openssl reads the patched structure, with its new count.
    const dumped = execFileSync("openssl", ["asn1parse", "-inform", "DER"], { input: fixed }).toString();
    assert.match(dumped, /INTEGER\s*:7FFFFFFF/);
    assert.throws(
      () => spkiOfPrivateKey(fixed, { passphrase: "s3cret" }),
      (error: unknown) =>
        error instanceof KeypinError &&
        error.code === "ERR_KEYPIN_PRIVATE_KEY" &&
        /2,147,483,647 key-derivation iterations \(at most 10,000,000 are run\)/.test(error.message),
    );
  });

  test("refuses bytes that are no private key, without echoing them", () => {
    assert.throws(
      () => spkiOfPrivateKey(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_PRIVATE_KEY",
    );
  });
});
