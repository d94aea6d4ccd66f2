import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { opensslPinOfCertificateFile, opensslPinOfCsrFile, opensslPinOfPublicKeyFile } from "@keypin/testkit";
import { KeypinParseError } from "../errors.js";
import { decodePem, encodePem } from "../pem.js";
import { computePin } from "../pin.js";
import { parseCertificate } from "./certificate.js";
import { readKeyMaterial } from "./key-material.js";
import { parseSpki } from "./spki.js";

const sha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

/** The key types keypin must handle, with openssl's genpkey options and the keyType core reports. */
const KEY_TYPES = [
  { name: "RSA-2048", genpkey: ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] },
  { name: "EC-P256", genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] },
  { name: "EC-P384", genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"] },
  { name: "EC-P521", genpkey: ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"] },
  { name: "Ed25519", genpkey: ["-algorithm", "ED25519"] },
  { name: "Ed448", genpkey: ["-algorithm", "ED448"] },
] as const;

let dir = "";
const file = (name: string) => join(dir, name);
/** Runs one openssl command line in the temp dir (file names are relative to it). */
const openssl = (args: string) =>
  execFileSync("sh", ["-c", `openssl ${args}`], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-core-x509-"));
  for (const { name, genpkey } of KEY_TYPES) {
    const host = `${name.toLowerCase()}.keypin.test`;
    openssl(`genpkey ${genpkey.join(" ")} -out ${name}.key`);
    openssl(
      `req -x509 -new -key ${name}.key -out ${name}.crt -days 30 -subj "/C=DE/O=Key Pin, Test/CN=${host}" ` +
        `-addext "subjectAltName=DNS:${host},DNS:*.keypin.test,IP:127.0.0.1,IP:2001:db8::1"`,
    );
    openssl(`x509 -in ${name}.crt -outform der -out ${name}.crt.der`);
    openssl(`pkey -in ${name}.key -pubout -out ${name}.pub`);
    openssl(`pkey -in ${name}.key -pubout -outform der -out ${name}.pub.der`);
    openssl(`req -new -key ${name}.key -out ${name}.csr -subj "/O=Keypin/CN=csr-${name}"`);
    openssl(`req -in ${name}.csr -outform der -out ${name}.csr.der`);
  }
  // A CA-signed leaf, for isCA, issuer and serial.
  openssl(
    `req -x509 -new -key EC-P384.key -out ca.crt -days 30 -subj "/O=Keypin Test CA/CN=Keypin Root" ` +
      `-addext "basicConstraints=critical,CA:TRUE"`,
  );
  openssl(
    "x509 -req -in RSA-2048.csr -CA ca.crt -CAkey EC-P384.key -out leaf.crt -days 10 -set_serial 0x00ff10",
  );
  // Other encodings of the same kinds of keys.
  openssl("rsa -in RSA-2048.key -RSAPublicKey_out -out rsa-pkcs1.pub");
  openssl("genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out pss.key");
  openssl('req -x509 -new -key pss.key -out pss.crt -days 2 -subj "/CN=pss"');
  openssl("ec -in EC-P256.key -pubout -conv_form compressed -out compressed.pub");
  openssl("ec -in EC-P256.key -pubout -param_enc explicit -out explicit.pub");
  // Encrypted private keys: PKCS#8 and OpenSSL's legacy PEM encryption.
  openssl("pkcs8 -topk8 -in EC-P256.key -out encrypted.key -passout pass:secret -v2 aes-256-cbc");
  openssl("rsa -in RSA-2048.key -aes128 -passout pass:secret -traditional -out legacy-encrypted.key");
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("openssl oracle: pins of every key type", () => {
  for (const { name } of KEY_TYPES) {
    it(`gives openssl's pin for a ${name} certificate in PEM and DER`, () => {
      const expected = opensslPinOfCertificateFile(file(`${name}.crt`));
      const [fromPem] = readKeyMaterial(readFileSync(file(`${name}.crt`), "utf8"));
      assert.equal(fromPem?.kind, "certificate");
      assert.equal(fromPem?.kind === "certificate" && fromPem.keyType, name);
      assert.equal(fromPem?.kind === "certificate" && computePin(fromPem.spki, sha256), expected);
      const der = new Uint8Array(readFileSync(file(`${name}.crt.der`)));
      assert.equal(computePin(parseCertificate(der).spki, sha256), expected);
      const [fromDer] = readKeyMaterial(der);
      assert.equal(fromDer?.kind === "certificate" && computePin(fromDer.spki, sha256), expected);
    });

    it(`gives openssl's pin for a ${name} public key in PEM and DER`, () => {
      const expected = opensslPinOfPublicKeyFile(file(`${name}.pub`));
      const [fromPem] = readKeyMaterial(readFileSync(file(`${name}.pub`), "utf8"));
      assert.equal(fromPem?.kind, "public-key");
      assert.equal(fromPem?.kind === "public-key" && computePin(fromPem.spki, sha256), expected);
      const der = new Uint8Array(readFileSync(file(`${name}.pub.der`)));
      const parsed = parseSpki(der);
      assert.equal(parsed.keyType, name);
      assert.equal(computePin(parsed.spki, sha256), expected);
      const [fromDer] = readKeyMaterial(der);
      assert.equal(fromDer?.kind === "public-key" && computePin(fromDer.spki, sha256), expected);
    });

    it(`gives openssl's pin for a ${name} CSR in PEM and DER`, () => {
      const expected = opensslPinOfCsrFile(file(`${name}.csr`));
      for (const input of [
        readFileSync(file(`${name}.csr`), "utf8"),
        new Uint8Array(readFileSync(file(`${name}.csr.der`))),
      ]) {
        const [csr] = readKeyMaterial(input);
        assert.equal(csr?.kind, "csr");
        if (csr?.kind !== "csr") return;
        assert.equal(csr.keyType, name);
        assert.equal(csr.subject, `CN=csr-${name}, O=Keypin`);
        assert.equal(computePin(csr.spki, sha256), expected);
      }
    });
  }

  it("gives openssl's pin for an RSA PUBLIC KEY (PKCS#1) block by re-wrapping it as SPKI", () => {
    const expected = opensslPinOfPublicKeyFile(file("RSA-2048.pub"));
    const [key] = readKeyMaterial(readFileSync(file("rsa-pkcs1.pub"), "utf8"));
    assert.equal(key?.kind === "public-key" && computePin(key.spki, sha256), expected);
  });

  it("reads every block of a PEM bundle in order and skips the text between them", () => {
    const bundle = KEY_TYPES.map(
      ({ name }) => `# ${name}\r\n${readFileSync(file(`${name}.crt`), "utf8")}`,
    ).join("\n");
    const items = readKeyMaterial(`some preamble\n${bundle}trailing text`);
    assert.deepEqual(
      items.map((m) => [m.index, m.kind === "certificate" ? m.keyType : m.kind]),
      KEY_TYPES.map(({ name }, i) => [i, name]),
    );
  });
});

/** Node prints names in DER order, one (escaped) attribute per line. */
function asNodePrintsIt(rfc4514: string): string {
  return rfc4514
    .split(/(?<!\\), /)
    .reverse()
    .join("\n");
}

describe("openssl oracle: uncommon encodings", () => {
  it("gives openssl's pin for an RSA-PSS certificate and names it RSA-PSS-2048", () => {
    const [m] = readKeyMaterial(readFileSync(file("pss.crt"), "utf8"));
    assert.ok(m?.kind === "certificate");
    assert.equal(m.keyType, "RSA-PSS-2048");
    assert.equal(computePin(m.spki, sha256), opensslPinOfCertificateFile(file("pss.crt")));
  });

  it("hashes EC keys exactly as encoded: a compressed point and explicit curve parameters give openssl's pins", () => {
    for (const [name, keyType] of [
      ["compressed.pub", "EC-P256"],
      ["explicit.pub", "EC-explicit"],
    ]) {
      const [m] = readKeyMaterial(readFileSync(file(name!), "utf8"));
      assert.ok(m?.kind === "public-key");
      assert.equal(m.keyType, keyType);
      assert.equal(computePin(m.spki, sha256), opensslPinOfPublicKeyFile(file(name!)));
    }
    const uncompressed = opensslPinOfPublicKeyFile(file("EC-P256.pub"));
    assert.notEqual(opensslPinOfPublicKeyFile(file("compressed.pub")), uncompressed);
  });
});

describe("certificate fields", () => {
  it("reads subject, issuer, validity, serial, SANs and CA flag as Node's X509Certificate does", () => {
    for (const name of ["leaf.crt", "ca.crt", "EC-P256.crt"]) {
      const pem = readFileSync(file(name), "utf8");
      const node = new X509Certificate(pem);
      const info = parseCertificate(decodePem(pem)[0]!.der);
      assert.equal(asNodePrintsIt(info.subject), node.subject);
      assert.equal(asNodePrintsIt(info.issuer), node.issuer);
      assert.equal(info.notBefore.getTime(), new Date(node.validFrom).getTime());
      assert.equal(info.notAfter.getTime(), new Date(node.validTo).getTime());
      assert.equal(info.serialNumber, node.serialNumber.toUpperCase());
      assert.equal(info.isCA, node.ca);
      assert.deepEqual(info.der, new Uint8Array(node.raw));
    }
  });

  it("escapes RFC 4514 special characters and lists the most specific attribute first", () => {
    const info = parseCertificate(decodePem(readFileSync(file("Ed448.crt"), "utf8"))[0]!.der);
    assert.equal(info.subject, "CN=ed448.keypin.test, O=Key Pin\\, Test, C=DE");
  });

  it("lists DNS and IP subject alternative names, IPv6 in RFC 5952 form", () => {
    const info = parseCertificate(decodePem(readFileSync(file("EC-P521.crt"), "utf8"))[0]!.der);
    assert.deepEqual(info.subjectAltNames, {
      dns: ["ec-p521.keypin.test", "*.keypin.test"],
      ip: ["127.0.0.1", "2001:db8::1"],
    });
  });

  it("reads a CA-signed leaf: issuer is the CA's subject, serial without the sign byte, not a CA", () => {
    const leaf = parseCertificate(decodePem(readFileSync(file("leaf.crt"), "utf8"))[0]!.der);
    assert.equal(leaf.issuer, "CN=Keypin Root, O=Keypin Test CA");
    assert.equal(leaf.subject, "CN=csr-RSA-2048, O=Keypin");
    assert.equal(leaf.serialNumber, "FF10");
    assert.equal(leaf.isCA, false);
    assert.equal(leaf.keyType, "RSA-2048");
    assert.equal(parseCertificate(decodePem(readFileSync(file("ca.crt"), "utf8"))[0]!.der).isCA, true);
  });
});

describe("private keys and errors", () => {
  it("reports private keys without opening them, and marks encrypted ones", () => {
    const plain = readKeyMaterial(readFileSync(file("Ed25519.key"), "utf8"));
    assert.deepEqual(
      plain.map((m) => m.kind === "private-key" && m.encrypted),
      [false],
    );
    const encrypted = readKeyMaterial(readFileSync(file("encrypted.key"), "utf8"));
    assert.deepEqual(
      encrypted.map((m) => m.kind === "private-key" && m.encrypted),
      [true],
    );
    const legacy = readFileSync(file("legacy-encrypted.key"), "utf8");
    assert.match(legacy, /Proc-Type: 4,ENCRYPTED/);
    assert.equal(decodePem(legacy)[0]?.headers?.["Proc-Type"], "4,ENCRYPTED");
    assert.deepEqual(
      readKeyMaterial(legacy).map((m) => m.kind === "private-key" && m.encrypted),
      [true],
    );
    const der = decodePem(readFileSync(file("encrypted.key"), "utf8"))[0]!.der;
    assert.deepEqual(
      readKeyMaterial(der).map((m) => m.kind === "private-key" && m.encrypted),
      [true],
    );
  });

  it("keeps a PEM key's label and headers, so that a legacy encrypted key can be written back and read by openssl", () => {
    const [legacy] = readKeyMaterial(readFileSync(file("legacy-encrypted.key"), "utf8"));
    assert.ok(legacy?.kind === "private-key" && legacy.pem);
    assert.equal(legacy.pem.label, "RSA PRIVATE KEY");
    assert.deepEqual(Object.keys(legacy.pem.headers ?? {}), ["Proc-Type", "DEK-Info"]);
    const rewritten = encodePem(legacy.der, legacy.pem.label, legacy.pem.headers);
    const publicKey = (input: string): string =>
      execFileSync("openssl", ["pkey", "-passin", "pass:secret", "-pubout"], { input }).toString();
    assert.equal(publicKey(rewritten), publicKey(readFileSync(file("RSA-2048.key"), "utf8")));
    const [plain] = readKeyMaterial(readFileSync(file("Ed25519.key"), "utf8"));
    assert.deepEqual(plain?.kind === "private-key" && plain.pem, { label: "PRIVATE KEY" });
    const [fromDer] = readKeyMaterial(decodePem(readFileSync(file("Ed25519.key"), "utf8"))[0]!.der);
    assert.equal(fromDer?.kind === "private-key" && fromDer.pem, undefined);
  });

  it("skips EC PARAMETERS blocks and refuses OpenSSH private keys with a way out", () => {
    const ecparam = execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey"], {
      stdio: ["ignore", "pipe", "pipe"],
    }).toString();
    assert.match(ecparam, /BEGIN EC PARAMETERS[\s\S]*BEGIN EC PRIVATE KEY/);
    assert.deepEqual(
      readKeyMaterial(ecparam).map((m) => [m.kind, m.index]),
      [["private-key", 1]],
    );
    const openssh = encodePem(new Uint8Array([1, 2, 3]), "OPENSSH PRIVATE KEY");
    assert.throws(() => readKeyMaterial(openssh), /OpenSSH private key.*ssh-keygen -p -m PKCS8/);
  });

  it("refuses a truncated certificate with a KeypinParseError carrying the byte offset", () => {
    const der = new Uint8Array(readFileSync(file("EC-P256.crt.der")));
    const cut = der.subarray(0, der.length - 10);
    assert.throws(
      () => parseCertificate(cut),
      (e: unknown) => e instanceof KeypinParseError && e.code === "ERR_KEYPIN_PARSE" && e.offset === 0,
    );
  });

  it("refuses text without PEM blocks and PEM whose END label differs", () => {
    assert.throws(() => readKeyMaterial("hello"), /no PEM block found/);
    const pem = encodePem(new Uint8Array([48, 0])).replace("END CERTIFICATE", "END PUBLIC KEY");
    assert.throws(() => decodePem(pem), /ends with "END PUBLIC KEY" instead of "END CERTIFICATE"/);
  });
});
