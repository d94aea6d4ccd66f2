import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pinOfCertificate, spkiOfCertificate } from "./certificate-pin.js";
import { KeypinParseError } from "./errors.js";
import { parseCertificate } from "./x509.js";

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
      const opensslPin = execFileSync("sh", [
        "-c",
        `openssl x509 -in '${pem}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`,
      ])
        .toString()
        .trim();
      certs.push({ name, der, opensslPin });
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  test("gives the pin openssl computes, for every key type", () => {
    for (const { name, der, opensslPin } of certs) {
      assert.equal(pinOfCertificate(der, sha256), `sha256/${opensslPin}`, name);
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

  test("refuses a structure that is not a certificate", () => {
    assert.throws(() => spkiOfCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), KeypinParseError);
    assert.throws(
      () => spkiOfCertificate(new Uint8Array(readFileSync(join(dir, "EC-P256.key")))),
      KeypinParseError,
    );
  });
});
