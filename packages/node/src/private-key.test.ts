import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createCipheriv, createHash, createPrivateKey, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/**
 * Legacy PEM encryption (RFC 1421: Proc-Type, DEK-Info; key EVP_BytesToKey(MD5, first 8 bytes of the IV))
 * of `der` under `label`, for the forms the openssl CLI does not write (a PKCS#8 body under PRIVATE KEY, a
 * DSA key under RSA PRIVATE KEY); openssl reading each one is the tests' check that it is the real form.
 */
function legacyPem(label: string, der: Buffer, cipher: "AES-128-CBC" | "DES-EDE3-CBC"): string {
  const [keyLength, ivLength] = cipher === "AES-128-CBC" ? [16, 16] : [24, 8];
  const iv = randomBytes(ivLength);
  let block = Buffer.alloc(0);
  let key = Buffer.alloc(0);
  while (key.length < keyLength) {
    block = createHash("md5").update(block).update("s3cret").update(iv.subarray(0, 8)).digest();
    key = Buffer.concat([key, block]);
  }
  const c = createCipheriv(cipher.toLowerCase(), key.subarray(0, keyLength), iv);
  const body = Buffer.concat([c.update(der), c.final()])
    .toString("base64")
    .replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: ${cipher},${iv.toString("hex").toUpperCase()}\n\n${body.trimEnd()}\n-----END ${label}-----\n`;
}

/** PBES2 forms `openssl pkcs8 -topk8` writes with the default provider: each cipher, each PRF, scrypt. */
const PKCS8_FORMS: Record<string, string[]> = {
  "aes-128-cbc": ["-v2", "aes-128-cbc"],
  "aes-192-cbc+sha384": ["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA384"],
  "des-ede3-cbc": ["-v2", "des3"],
  "des-ede3-cbc.der": ["-v2", "des3", "-outform", "DER"],
  hmacWithSHA1: ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"],
  hmacWithSHA224: ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA224"],
  hmacWithSHA512: ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512"],
  "hmacWithSHA512-224": ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512-224"],
  "hmacWithSHA512-256.der": ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512-256", "-outform", "DER"],
  scrypt: ["-scrypt", "-scrypt_N", "1024"],
  // PKCS#12 PBE with SHA-1 and triple DES: what OpenSSL 1.0's pkcs8 -topk8 wrote by default.
  "pbe-sha1-3des": ["-v1", "PBE-SHA1-3DES"],
  "pbe-sha1-2des.der": ["-v1", "PBE-SHA1-2DES", "-outform", "DER"],
  "scrypt.der": ["-scrypt", "-scrypt_N", "1024", "-outform", "DER"],
};
/** Legacy PEM encryption the openssl CLI writes, by key: `openssl rsa|ec -CIPHER`. */
const LEGACY_FORMS: Record<string, string[]> = {
  aes192: ["-aes192"],
  aes256: ["-aes256"],
  des3: ["-des3"],
};
/** Each encrypted file made, with the plain key it holds. */
const encryptedForms: { name: string; plain: string }[] = [];

function makeEncryptedForms(): void {
  for (const plain of ["rsa.pem", "p256.pem", "ed25519.pem", "dsa.pem"]) {
    const base = plain.replace(/\.pem$/, "");
    for (const [form, options] of Object.entries(PKCS8_FORMS)) {
      const name = `${base}-pkcs8-${form}${form.endsWith(".der") ? "" : ".pem"}`;
      encryptPkcs8(plain, name, ...options);
      encryptedForms.push({ name, plain });
    }
    if (base === "rsa" || base === "p256") {
      for (const [form, options] of Object.entries(LEGACY_FORMS)) {
        const name = `${base}-legacy-${form}.pem`;
        openssl(
          base === "rsa" ? "rsa" : "ec",
          "-in",
          file(plain),
          ...options,
          "-passout",
          "pass:s3cret",
          "-out",
          file(name),
        );
        encryptedForms.push({ name, plain });
      }
    }
    // Legacy PEM encryption of a PKCS#8 body under the label PRIVATE KEY (OpenSSL reads it; its CLI writes
    // the traditional form where there is one).
    const pkcs8Der = openssl("pkcs8", "-topk8", "-nocrypt", "-in", file(plain), "-outform", "DER");
    for (const cipher of ["AES-128-CBC", "DES-EDE3-CBC"] as const) {
      const name = `${base}-legacy-pkcs8-${cipher}.pem`;
      writeFileSync(file(name), legacyPem("PRIVATE KEY", pkcs8Der, cipher));
      encryptedForms.push({ name, plain });
    }
  }
  // OpenSSL's decoders try more forms than the label's own: a PKCS#8 DSA key under the label RSA PRIVATE KEY,
  // and RSA and EC keys in their traditional forms under PRIVATE KEY, all load.
  const dsaPkcs8 = openssl("pkcs8", "-topk8", "-nocrypt", "-in", file("dsa.pem"), "-outform", "DER");
  for (const [name, label, der, plain] of [
    ["dsa-legacy-pkcs8-as-rsa.pem", "RSA PRIVATE KEY", dsaPkcs8, "dsa.pem"],
    [
      "rsa-legacy-pkcs1-as-pkcs8.pem",
      "PRIVATE KEY",
      openssl("rsa", "-in", file("rsa.pem"), "-traditional", "-outform", "DER"),
      "rsa.pem",
    ],
    [
      "p256-legacy-sec1-as-pkcs8.pem",
      "PRIVATE KEY",
      openssl("ec", "-in", file("p256.pem"), "-outform", "DER"),
      "p256.pem",
    ],
  ] as const) {
    writeFileSync(file(name), legacyPem(label, der, "AES-128-CBC"));
    encryptedForms.push({ name, plain });
  }
}

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
  encryptPkcs8("p256.pem", "p256-des3-iter1.pem", "-v2", "des3", "-iter", "1");
  encryptPkcs8("p256.pem", "p256-pkcs12-iter1.pem", "-v1", "PBE-SHA1-3DES", "-iter", "1");
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
  makeEncryptedForms();
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

/**
 * One encrypted form's checks: openssl (the oracle) reads it; without a passphrase keypin asks for one; a DSA
 * key inside is refused before it is loaded; any other key gives openssl's SPKI, and a wrong passphrase is
 * called wrong without being echoed.
 */
function checkForm(name: string, plain: string): void {
  const key = name.endsWith(".der") ? readFileSync(file(name)) : readFileSync(file(name), "utf8");
  const oracle = opensslSpki(name, "s3cret");
  assert.ok(oracle.length > 0, `openssl reads ${name}`);
  assert.throws(
    () => spkiOfPrivateKey(key),
    (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_ENCRYPTED_KEY",
  );
  if (plain === "dsa.pem") {
    assert.throws(
      () => spkiOfPrivateKey(key, { passphrase: "s3cret" }),
      (error: unknown) =>
        error instanceof KeypinError &&
        error.code === "ERR_KEYPIN_PRIVATE_KEY" &&
        /a DSA key: keypin pins RSA, EC and EdDSA keys; it was not loaded/.test(error.message),
    );
    return;
  }
  assert.deepEqual(oracle, opensslSpki(plain));
  assert.deepEqual(Buffer.from(spkiOfPrivateKey(key, { passphrase: "s3cret" })), oracle);
  assert.throws(
    () => spkiOfPrivateKey(key, { passphrase: "s3cre7" }),
    (error: unknown) =>
      error instanceof KeypinError &&
      error.code === "ERR_KEYPIN_BAD_PASSPHRASE" &&
      !error.message.includes("s3cre"),
  );
}

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

  // CBC checks only the padding: about 1 wrong passphrase in 256 decrypts to garbage that ends in valid
  // padding, and node:crypto then fails in the ASN.1 or key decoder instead of saying "bad decrypt".
  for (const name of [
    "ed-iter1.der",
    "p256-iter1.pem",
    "rsa-legacy-enc.pem",
    "p256-des3-iter1.pem",
    "p256-pkcs12-iter1.pem",
  ]) {
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

  // Every encrypted form is decrypted by keypin, never by OpenSSL, so that the key inside is checked first: a
  // DSA key in any of them is refused (openssl, the control, loads each one), any other key is read with the
  // SPKI openssl prints.
  test("reads every encrypted form keypin decrypts with openssl's SPKI, and refuses the DSA key inside each", () => {
    assert.equal(encryptedForms.length, 69);
    const failures: string[] = [];
    for (const { name, plain } of encryptedForms) {
      try {
        checkForm(name, plain);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message.split("\n")[0]}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test("refuses, before OpenSSL runs, a DSA key of a 65,536-bit modulus that is no prime inside PBES2 with DES-EDE3-CBC", () => {
    // Built as the review built it: OpenSSL computes g^x mod p on load for whatever p the file holds.
    const random = (bits: number): Buffer => {
      const b = randomBytes(bits / 8);
      b[0]! |= 0x80;
      b[b.length - 1]! |= 1;
      return b;
    };
    const length = (n: number): Buffer => {
      if (n < 0x80) return Buffer.from([n]);
      const bytes: number[] = [];
      for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
      return Buffer.from([0x80 | bytes.length, ...bytes]);
    };
    const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
      const value = Buffer.concat(parts);
      return Buffer.concat([Buffer.from([tag]), length(value.length), value]);
    };
    const int = (b: Buffer): Buffer => tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    const oid = (hex: string): Buffer => tlv(0x06, Buffer.from(hex, "hex"));
    const bits = 65_536;
    const dsa = tlv(
      0x30,
      int(Buffer.from([0])),
      tlv(0x30, oid("2a8648ce380401"), tlv(0x30, int(random(bits)), int(random(256)), int(random(bits - 8)))),
      tlv(0x04, int(random(bits - 8))),
    );
    const salt = randomBytes(8);
    const iv = randomBytes(8);
    const key = pbkdf2Sync("s3cret", salt, 2048, 24, "sha256");
    const cipher = createCipheriv("des-ede3-cbc", key, iv);
    const encrypted = tlv(
      0x30,
      tlv(
        0x30,
        oid("2a864886f70d01050d"), // PBES2
        tlv(
          0x30,
          tlv(
            0x30,
            oid("2a864886f70d01050c"), // PBKDF2
            tlv(
              0x30,
              tlv(0x04, salt),
              int(Buffer.from([0x08, 0x00])),
              tlv(0x30, oid("2a864886f70d0209"), tlv(0x05)),
            ),
          ),
          tlv(0x30, oid("2a864886f70d0307"), tlv(0x04, iv)), // DES-EDE3-CBC
        ),
      ),
      tlv(0x04, Buffer.concat([cipher.update(dsa), cipher.final()])),
    );
    // The oracle that the structure is what a file would hold: openssl parses it, and decrypts it to the DSA key.
    const dumped = execFileSync("openssl", ["asn1parse", "-inform", "DER"], { input: encrypted }).toString();
    assert.match(dumped, /PBES2[\s\S]*PBKDF2[\s\S]*des-ede3-cbc/);
    assert.throws(
      () => spkiOfPrivateKey(encrypted, { passphrase: "s3cret" }),
      (error: unknown) =>
        error instanceof KeypinError &&
        error.code === "ERR_KEYPIN_PRIVATE_KEY" &&
        /a DSA key: keypin pins RSA, EC and EdDSA keys; it was not loaded/.test(error.message),
    );
  });

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
