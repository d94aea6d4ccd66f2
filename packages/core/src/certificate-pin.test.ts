import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { opensslPinOfCertificateFile } from "@keypin/testkit";
import fc from "fast-check";
import { pinOfCertificate, spkiOfCertificate } from "./certificate-pin.js";
import { expectNode, readNode, TAG } from "./der.js";
import { KeypinParseError } from "./errors.js";
import { parseCertificate } from "./x509/certificate.js";

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

const keyArgs: Record<string, string[]> = {
  "RSA-2048": ["-newkey", "rsa:2048"],
  "EC-P256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "EC-P384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
  Ed25519: ["-newkey", "ed25519"],
  Ed448: ["-newkey", "ed448"],
};

describe("pinOfCertificate", () => {
  let dir: string;
  const certs: { name: string; der: Uint8Array; opensslPin: string }[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "keypin-certpin-"));
    for (const [name, args] of Object.entries(keyArgs)) {
      const pem = join(dir, `${name}.pem`);
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-nodes",
          "-subj",
          `/CN=${name}.example.test`,
          "-days",
          "2",
          ...args,
          "-keyout",
          join(dir, `${name}.key`),
          "-out",
          pem,
        ],
        { stdio: "ignore" },
      );
      const der = new Uint8Array(execFileSync("openssl", ["x509", "-in", pem, "-outform", "der"]));
      const opensslPin = opensslPinOfCertificateFile(pem);
      certs.push({ name, der, opensslPin });
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test("gives the pin openssl computes, for every key type", () => {
    for (const { name, der, opensslPin } of certs) {
      assert.equal(pinOfCertificate(der, sha256), opensslPin, name);
    }
  });

  test("returns the same SPKI bytes as the full certificate parser", () => {
    for (const { name, der } of certs) {
      assert.deepEqual(spkiOfCertificate(der), parseCertificate(der).spki, name);
    }
  });

  test("refuses a truncated certificate or trailing bytes with a parse error that carries an offset", () => {
    const { der } = certs[0]!;
    for (const bad of [der.subarray(0, der.length - 1), der.subarray(0, 40), new Uint8Array([...der, 0])]) {
      assert.throws(
        () => spkiOfCertificate(bad),
        (error: unknown) => error instanceof KeypinParseError && Number.isInteger(error.offset),
      );
    }
  });

  test("walks mutated and truncated certificates exactly as a walk with the generic DER reader does", () => {
    // The reference: the same fields read with readNode/expectNode, which allocate a node per element.
    // spkiOfCertificate reads common lengths itself; it must accept, reject and explain the same inputs.
    const reference = (der: Uint8Array): Uint8Array => {
      const cert = expectNode(der, 0, der.length, TAG.SEQUENCE, "a certificate");
      if (cert.end !== der.length) {
        throw new KeypinParseError(
          `${der.length - cert.end} unexpected bytes after the certificate`,
          cert.end,
        );
      }
      const tbs = expectNode(der, cert.valueStart, cert.end, TAG.SEQUENCE, "the tbsCertificate");
      let p = tbs.valueStart;
      if (p < tbs.end && readNode(der, p, tbs.end).tag === 0xa0) p = readNode(der, p, tbs.end).end;
      for (const what of [
        "the serial number",
        "the signature algorithm",
        "the issuer name",
        "the validity",
        "the subject name",
      ]) {
        p = expectNode(der, p, tbs.end, what === "the serial number" ? TAG.INTEGER : TAG.SEQUENCE, what).end;
      }
      const spki = expectNode(der, p, tbs.end, TAG.SEQUENCE, "the SubjectPublicKeyInfo");
      const algorithm = expectNode(der, spki.valueStart, spki.end, TAG.SEQUENCE, "the key algorithm");
      const key = expectNode(der, algorithm.end, spki.end, TAG.BIT_STRING, "the public key BIT STRING");
      if (key.end !== spki.end) {
        throw new KeypinParseError(`unexpected bytes after the public key at byte ${key.end}`, key.end);
      }
      return der.subarray(spki.start, spki.end);
    };
    const outcome = (walk: (der: Uint8Array) => Uint8Array, der: Uint8Array) => {
      try {
        return { spki: Buffer.from(walk(der)).toString("hex") };
      } catch (error) {
        assert.ok(error instanceof KeypinParseError, String(error));
        return { error: error.message, offset: error.offset };
      }
    };
    const mutated = fc
      .tuple(
        fc.constantFrom(...certs.map((c) => c.der)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        fc.nat(),
      )
      .map(([der, edits, cut]) => {
        const copy = new Uint8Array(der);
        // Edits land in the first 400 bytes most of the time: that is where the walked headers are.
        for (const [at, value] of edits) copy[at % Math.min(copy.length, at % 2 ? 400 : copy.length)] = value;
        return cut % 4 === 0 ? copy.subarray(0, cut % (copy.length + 1)) : copy;
      });
    fc.assert(
      fc.property(mutated, (der) => {
        assert.deepEqual(outcome(spkiOfCertificate, der), outcome(reference, der));
      }),
      { numRuns: 3000 },
    );
    // Length bytes at the edges of the fast path: 0x7f/0x80/0x81 0x7f/0x82 0x00 …, on every walked header.
    for (const { der } of certs) {
      for (let at = 0; at < Math.min(der.length, 300); at++) {
        for (const value of [0x00, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff]) {
          const copy = new Uint8Array(der);
          copy[at] = value;
          assert.deepEqual(
            outcome(spkiOfCertificate, copy),
            outcome(reference, copy),
            `byte ${at} = ${value}`,
          );
        }
      }
    }
  });

  test("refuses a structure that is not a certificate", () => {
    assert.throws(() => spkiOfCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), KeypinParseError);
    assert.throws(
      // A DER private key: a SEQUENCE that fills the input, but whose fields are not a certificate's.
      () =>
        spkiOfCertificate(
          new Uint8Array(
            execFileSync("openssl", ["pkey", "-in", join(dir, "EC-P256.key"), "-outform", "der"]),
          ),
        ),
      KeypinParseError,
    );
  });
});
