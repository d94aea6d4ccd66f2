import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { describe, it } from "node:test";
import { canonicalJwkOf, encodeRsaSpki, publicKeyEntryOf } from "./public-key.js";

function spkiOf(key: KeyObject): Buffer {
  return key.export({ format: "der", type: "spki" });
}

/** What node:crypto's DER import (the reference) makes of the same bytes. */
function derImport(spki: Buffer): KeyObject {
  return createPublicKey({ key: spki, format: "der", type: "spki" });
}

function assertSameKey(spki: Buffer): void {
  const jwk = canonicalJwkOf(spki);
  assert.ok(jwk, "a canonical SPKI has a JWK form");
  const fast = createPublicKey({ key: jwk, format: "jwk" });
  const reference = derImport(spki);
  assert.deepEqual(spkiOf(fast), spki, "the JWK import is the same key, byte for byte");
  assert.equal(fast.asymmetricKeyType, reference.asymmetricKeyType);
  assert.deepEqual(fast.asymmetricKeyDetails, reference.asymmetricKeyDetails);
}

const keyPairs = [
  ["RSA-2048, e = 65537", () => generateKeyPairSync("rsa", { modulusLength: 2048 })],
  ["RSA-1024, e = 3", () => generateKeyPairSync("rsa", { modulusLength: 1024, publicExponent: 3 })],
  [
    "RSA-3072, e = 2^31 - 1",
    () => generateKeyPairSync("rsa", { modulusLength: 3072, publicExponent: 2 ** 31 - 1 }),
  ],
  [
    "RSA-1000 (a modulus that is not a whole number of octets)",
    () => generateKeyPairSync("rsa", { modulusLength: 1000 }),
  ],
  ["P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" })],
  ["P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" })],
  ["P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" })],
] as const;

describe("public keys imported once per SPKI", () => {
  for (const [name, make] of keyPairs) {
    it(`imports a ${name} key as the very key the DER import reads, and it verifies the same signatures`, () => {
      const { publicKey, privateKey } = make();
      const spki = spkiOf(publicKey);
      assertSameKey(spki);
      const data = Buffer.from(`signed by ${name}`);
      const signature = sign("sha256", data, privateKey);
      const { key } = publicKeyEntryOf(spki, `test/${name}/${spki.toString("base64")}`);
      assert.ok(key);
      assert.equal(verify("sha256", data, key, signature), true);
      assert.equal(verify("sha256", Buffer.from("another message"), key, signature), false);
    });
  }

  it("reads an RSA key with a 64-bit exponent that openssl wrote the same way (the outside encoder)", () => {
    const pem = execFileSync("openssl", [
      "genpkey",
      "-algorithm",
      "RSA",
      "-pkeyopt",
      "rsa_keygen_bits:1536",
      "-pkeyopt",
      "rsa_keygen_pubexp:18446744073709551557",
    ]);
    const spki = execFileSync("openssl", ["pkey", "-pubout", "-outform", "DER"], { input: pem });
    assertSameKey(spki);
    assert.deepEqual(encodeRsaSpki(...rsaNumbers(spki)), spki);
  });

  it("leaves every SPKI that is not the canonical DER of an RSA key or a NIST point to the DER import", () => {
    const rsa = spkiOf(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey);
    const p256 = spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
    const [n, e] = rsaNumbers(rsa);
    const variants: [string, Buffer][] = [
      ["the canonical encoding (the control)", rsaWith(Buffer.concat([Buffer.of(0), n]), e)],
      ["a trailing byte", Buffer.concat([rsa, Buffer.of(0)])],
      ["a cut-off key", rsa.subarray(0, rsa.length - 1)],
      ["a modulus with a superfluous leading zero octet", rsaWith(Buffer.concat([Buffer.of(0, 0), n]), e)],
      ["a negative modulus (its top bit set, no zero octet)", rsaWith(n, e)],
      ["a zero exponent", rsaWith(Buffer.concat([Buffer.of(0), n]), Buffer.of(0))],
      ["RSA parameters that are not NULL", patched(rsa, "0500", "0400")],
      ["a BIT STRING with unused bits", patched(rsa, "050003818d00", "050003818d01")],
      ["a long-form length where the short form fits", patched(rsa, "300d0609", "30810d0609", 1)],
      ["a P-256 point in compressed form", compressed(p256)],
      ["a P-256 SPKI one byte short", p256.subarray(0, p256.length - 1)],
      ["an Ed25519 key", spkiOf(generateKeyPairSync("ed25519").publicKey)],
      ["a secp256k1 key", spkiOf(generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey)],
      ["an RSA-PSS key", spkiOf(generateKeyPairSync("rsa-pss", { modulusLength: 1024 }).publicKey)],
    ];
    const [control, ...others] = variants;
    assert.deepEqual(control![1], rsa, "the test's encoder writes the canonical form");
    assert.ok(canonicalJwkOf(control![1]));
    for (const [what, spki] of others) assert.equal(canonicalJwkOf(spki), undefined, what);
  });

  it("gives node:crypto's answer for bytes it cannot read, and one entry per pin", () => {
    const garbage = Buffer.from("3003020100", "hex");
    assert.equal(publicKeyEntryOf(garbage, "test/garbage").key, null);
    // A canonical P-256 encoding of a point that is not on the curve: both imports refuse it.
    const onCurve = spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
    const offCurve = Buffer.from(onCurve);
    offCurve[offCurve.length - 1] = offCurve[offCurve.length - 1]! ^ 1;
    assert.ok(canonicalJwkOf(offCurve), "the fast path is tried");
    assert.throws(() => derImport(offCurve), "the reference refuses the point");
    assert.equal(publicKeyEntryOf(offCurve, "test/off-curve").key, null);
    const spki = spkiOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
    assert.equal(publicKeyEntryOf(spki, "test/one"), publicKeyEntryOf(spki, "test/one"));
  });
});

/** n and e of an RSA SPKI as positive magnitudes (the test's own reading, through node:crypto's JWK export). */
function rsaNumbers(spki: Buffer): [Buffer, Buffer] {
  const jwk = derImport(spki).export({ format: "jwk" });
  return [Buffer.from(jwk.n!, "base64url"), Buffer.from(jwk.e!, "base64url")];
}

/** `spki` with the first `from` (hex) replaced by `to`, the outer SEQUENCE's length adjusted by `grow` octets. */
function patched(spki: Buffer, from: string, to: string, grow = 0): Buffer {
  const hex = spki.toString("hex");
  assert.ok(hex.includes(from), `the SPKI holds ${from}`);
  const out = Buffer.from(hex.replace(from, to), "hex");
  if (grow !== 0) out[2] = out[2]! + grow; // 30 81 LL: a 1024-bit key's SPKI
  return out;
}

/** An rsaEncryption SPKI around the given INTEGER contents, exactly as given. */
function rsaWith(n: Buffer, e: Buffer): Buffer {
  const key = tlv(0x30, Buffer.concat([tlv(0x02, n), tlv(0x02, e)]));
  const algorithm = Buffer.from("300d06092a864886f70d0101010500", "hex");
  return tlv(0x30, Buffer.concat([algorithm, tlv(0x03, Buffer.concat([Buffer.of(0), key]))]));
}

function tlv(tag: number, value: Buffer): Buffer {
  const length =
    value.length < 0x80
      ? Buffer.of(value.length)
      : value.length < 0x100
        ? Buffer.of(0x81, value.length)
        : Buffer.of(0x82, value.length >> 8, value.length & 0xff);
  return Buffer.concat([Buffer.of(tag), length, value]);
}

function compressed(p256: Buffer): Buffer {
  const key = derImport(p256);
  const jwk = key.export({ format: "jwk" });
  const y = Buffer.from(jwk.y!, "base64url");
  const point = Buffer.concat([Buffer.of(2 + (y[31]! & 1)), Buffer.from(jwk.x!, "base64url")]);
  const head = Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex");
  const spki = Buffer.concat([head, point]);
  // The compressed form is the same key to node:crypto: only the encoding differs.
  assert.deepEqual(derImport(spki).export({ format: "jwk" }), jwk);
  return spki;
}
