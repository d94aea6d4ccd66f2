// privateKeyRefusal reads what loading a key would cost before OpenSSL does; each case is built with DER
// that openssl itself reads (asn1parse), so the structures are the ones a real file holds.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { encodeNode, TAG } from "../der.js";
import { PRIVATE_KEY_LIMITS, privateKeyRefusal, readPbes2, readPkcs12Pbe } from "./private-key-shape.js";

const seq = (...parts: Uint8Array[]): Uint8Array => encodeNode(TAG.SEQUENCE, concat(parts));
const int = (value: Uint8Array | number): Uint8Array =>
  encodeNode(TAG.INTEGER, typeof value === "number" ? bigEndian(value) : value);
const oid = (dotted: string): Uint8Array => {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [a! * 40 + b!];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encodeNode(TAG.OID, new Uint8Array(bytes));
};
const octets = (length: number): Uint8Array => encodeNode(TAG.OCTET_STRING, new Uint8Array(length).fill(7));
function bigEndian(n: number): Uint8Array {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  if (out.length === 0 || out[0]! >= 0x80) out.unshift(0);
  return new Uint8Array(out);
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
/** An RSA modulus of `bits` bits (top bit set), as an INTEGER's value. */
const modulus = (bits: number): Uint8Array => {
  const bytes = new Uint8Array(Math.ceil(bits / 8) + 1).fill(0xab);
  bytes[0] = 0;
  bytes[1] = (1 << ((bits - 1) % 8)) | 1;
  return bytes;
};
const rsaPkcs1 = (bits: number): Uint8Array =>
  seq(int(0), int(modulus(bits)), int(65537), ...Array.from({ length: 6 }, () => int(3)));
const pkcs8 = (algorithm: string, inner: Uint8Array): Uint8Array =>
  seq(
    int(0),
    seq(oid(algorithm), encodeNode(TAG.NULL, new Uint8Array())),
    encodeNode(TAG.OCTET_STRING, inner),
  );
const pbes2 = (kdf: Uint8Array, cipher = "2.16.840.1.101.3.4.1.42", ivLength = 16): Uint8Array =>
  seq(seq(oid("1.2.840.113549.1.5.13"), seq(kdf, seq(oid(cipher), octets(ivLength)))), octets(64));
const pbkdf2 = (iterations: number, prf = "1.2.840.113549.2.9"): Uint8Array =>
  seq(oid("1.2.840.113549.1.5.12"), seq(octets(8), int(iterations), seq(oid(prf))));
const scrypt = (n: number, r: number, p: number): Uint8Array =>
  seq(oid("1.3.6.1.4.1.11591.4.11"), seq(octets(16), int(n), int(r), int(p)));

/** openssl reads the DER (the oracle that the structure is what a file would hold). */
const opensslReads = (der: Uint8Array): string =>
  execFileSync("openssl", ["asn1parse", "-inform", "DER"], { input: der }).toString();

describe("privateKeyRefusal", () => {
  it("refuses an RSA key over 16,384 bits in PKCS#1 and PKCS#8, and reads one at the limit", () => {
    for (const [bits, refused] of [
      [PRIVATE_KEY_LIMITS.rsaModulusBits, false],
      [PRIVATE_KEY_LIMITS.rsaModulusBits + 1, true],
      [1_000_000, true],
    ] as const) {
      for (const der of [rsaPkcs1(bits), pkcs8("1.2.840.113549.1.1.1", rsaPkcs1(bits))]) {
        assert.ok(opensslReads(der).includes("INTEGER"));
        const why = privateKeyRefusal(der);
        if (refused) assert.match(why ?? "", new RegExp(`an RSA key of ${bits} bits \\(at most 16384`));
        else assert.equal(why, undefined);
      }
    }
  });

  it("refuses DSA and Diffie-Hellman keys and algorithms keypin does not pin, and reads EC and Ed25519 ones", () => {
    assert.match(privateKeyRefusal(pkcs8("1.2.840.10040.4.1", int(5))) ?? "", /^a DSA key/);
    assert.match(privateKeyRefusal(pkcs8("1.2.840.113549.1.3.1", int(5))) ?? "", /^a Diffie-Hellman key/);
    assert.match(
      privateKeyRefusal(pkcs8("1.2.643.7.1.1.1.1", int(5))) ?? "",
      /1\.2\.643\.7\.1\.1\.1\.1, which keypin does not pin/,
    );
    assert.match(
      privateKeyRefusal(seq(int(0), int(23), int(11), int(4), int(8), int(3))) ?? "",
      /^a DSA key/,
    );
    assert.equal(privateKeyRefusal(pkcs8("1.2.840.10045.2.1", octets(40))), undefined);
    assert.equal(privateKeyRefusal(pkcs8("1.3.101.112", octets(34))), undefined);
  });

  it("refuses PBKDF2 and PBES1 iteration counts over 10 million, PKCS#12 ones over 1 million, and scrypt costs over 2^20", () => {
    assert.equal(privateKeyRefusal(pbes2(pbkdf2(PRIVATE_KEY_LIMITS.iterations))), undefined);
    for (const der of [
      pbes2(pbkdf2(PRIVATE_KEY_LIMITS.iterations + 1)),
      seq(seq(oid("1.2.840.113549.1.5.10"), seq(octets(8), int(2 ** 31 - 1))), octets(64)),
      seq(seq(oid("1.2.840.113549.1.12.1.3"), seq(octets(8), int(2 ** 40))), octets(64)),
    ]) {
      assert.ok(opensslReads(der).includes("OCTET STRING"));
      assert.match(
        privateKeyRefusal(der) ?? "",
        /key-derivation iterations \(at most (10|1),000,000 are run\)/,
      );
    }
    assert.equal(privateKeyRefusal(pbes2(scrypt(2 ** 14, 8, 1))), undefined);
    assert.match(privateKeyRefusal(pbes2(scrypt(2 ** 20, 8, 16))) ?? "", /scrypt parameters of cost/);
  });

  it("refuses scrypt parameters whose memory passes 128 × 2^20 bytes, even at a cost under the cap", () => {
    // N × r × p = 2^20 (at the cost cap), memory 128 × 2^19 × (2 + 1 + 2) = 320 MiB.
    const der = pbes2(scrypt(2, 2 ** 19, 1));
    assert.ok(opensslReads(der).includes("OCTET STRING"));
    assert.match(
      privateKeyRefusal(der) ?? "",
      /scrypt parameters that take 335,544,320 bytes of memory \(at most 134,217,728/,
    );
  });

  it("reads every PBES2 form node:crypto decrypts (PBKDF2 with each HMAC, scrypt; AES-CBC, DES-EDE3-CBC), and nothing else", () => {
    const params = readPbes2(pbes2(pbkdf2(2048)));
    assert.deepEqual(
      params && {
        kdf: params.kdf.name,
        cipher: params.cipher,
        keyLength: params.keyLength,
        iv: params.iv.length,
      },
      { kdf: "pbkdf2", cipher: "aes-256-cbc", keyLength: 32, iv: 16 },
    );
    const prfs = ["sha1", "sha224", "sha256", "sha384", "sha512", "sha512-224", "sha512-256"];
    prfs.forEach((digest, i) => {
      const read = readPbes2(pbes2(pbkdf2(2048, `1.2.840.113549.2.${7 + i}`)))?.kdf;
      assert.equal(read?.name === "pbkdf2" && read.digest, digest);
    });
    const des3 = readPbes2(pbes2(pbkdf2(2048), "1.2.840.113549.3.7", 8));
    assert.deepEqual(des3 && [des3.cipher, des3.keyLength], ["des-ede3-cbc", 24]);
    const viaScrypt = readPbes2(pbes2(scrypt(2 ** 14, 8, 1)))?.kdf;
    assert.deepEqual(viaScrypt?.name === "scrypt" && [viaScrypt.N, viaScrypt.r, viaScrypt.p], [
      2 ** 14,
      8,
      1,
    ]);
    for (const other of [
      pbes2(pbkdf2(2048, "1.2.840.113549.2.5")), // HMAC-MD5
      pbes2(pbkdf2(2048), "1.2.840.113549.3.2", 8), // RC2-CBC
      pbes2(pbkdf2(2048), "1.3.14.3.2.7", 8), // DES-CBC
      pbes2(pbkdf2(2048), "1.2.840.113549.3.7", 16), // DES-EDE3-CBC with an IV of the wrong length
      pbes2(scrypt(3, 8, 1)), // N not a power of two
      seq(seq(oid("1.2.840.113549.1.12.1.3"), seq(octets(8), int(2048))), octets(64)),
      rsaPkcs1(2048),
    ]) {
      assert.ok(opensslReads(other).includes("SEQUENCE"));
      assert.equal(readPbes2(other), undefined);
    }
  });

  it("reads PKCS#12 PBE with SHA-1 and triple DES, and refuses its iteration counts over 1 million", () => {
    const pbe = (scheme: string, iterations: number): Uint8Array =>
      seq(seq(oid(`1.2.840.113549.1.12.1.${scheme}`), seq(octets(8), int(iterations))), octets(64));
    const three = readPkcs12Pbe(pbe("3", 2048));
    assert.deepEqual(three && [three.cipher, three.keyLength, three.iterations], ["des-ede3-cbc", 24, 2048]);
    const two = readPkcs12Pbe(pbe("4", 2048));
    assert.deepEqual(two && [two.cipher, two.keyLength], ["des-ede-cbc", 16]);
    assert.equal(readPkcs12Pbe(pbe("6", 2048)), undefined); // RC2-40
    assert.equal(readPkcs12Pbe(pbes2(pbkdf2(2048))), undefined);
    assert.equal(privateKeyRefusal(pbe("3", PRIVATE_KEY_LIMITS.pkcs12Iterations)), undefined);
    const over = pbe("3", PRIVATE_KEY_LIMITS.pkcs12Iterations + 1);
    assert.ok(opensslReads(over).includes("OCTET STRING"));
    assert.match(
      privateKeyRefusal(over) ?? "",
      /1,000,001 PKCS#12 key-derivation iterations \(at most 1,000,000 are run\)/,
    );
  });
});
