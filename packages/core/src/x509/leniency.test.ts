// Core reads what OpenSSL reads in a certificate: the time forms OpenSSL's parser accepts, iPAddress SANs of any
// length, extensions with bytes after their value and unknown extensions whose content is not DER. Certificates
// are made with `openssl asn1parse -genconf` (exact DER); the oracles are `openssl x509 -enddate` and Node's
// X509Certificate (OpenSSL's reading), and `openssl verify` for which time forms may stand on a path.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseCertificate } from "./certificate.js";
import { certificateViolation } from "./path-rules.js";

let dir = "";
const file = (name: string) => join(dir, name);
const openssl = (args: string[]) =>
  execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: "pipe" });

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-leniency-"));
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem"]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
/** A self-signed P-256 certificate whose validity and extensions are exactly the genconf values given. */
function certificate(options: { notBefore?: string; notAfter: string; extensions?: [string, string][] }): {
  der: Uint8Array;
  pemFile: string;
} {
  const name = `c${count++}`;
  const spki = execFileSync("openssl", ["pkey", "-in", file("k.pem"), "-pubout", "-outform", "der"]);
  const exts = options.extensions ?? [];
  const sections = [
    "[tbs]",
    "version=EXPLICIT:0,INTEGER:2",
    `serial=INTEGER:${count}`,
    "sigalg=SEQUENCE:sigalg",
    "issuer=SEQUENCE:name",
    "validity=SEQUENCE:validity",
    "subject=SEQUENCE:name",
    "spki=SEQUENCE:spki",
    ...(exts.length > 0 ? ["extensions=EXPLICIT:3,SEQUENCE:extensions"] : []),
    "[sigalg]",
    "oid=OID:ecdsa-with-SHA256",
    "[name]",
    "rdn=SET:rdn",
    "[rdn]",
    "atv=SEQUENCE:atv",
    "[atv]",
    "oid=OID:commonName",
    "value=UTF8:keypin leniency",
    "[validity]",
    `notBefore=${options.notBefore ?? "UTC:250101000000Z"}`,
    `notAfter=${options.notAfter}`,
    "[spki]",
    "alg=SEQUENCE:spki_alg",
    `key=FORMAT:HEX,BITSTRING:${spki.subarray(spki.length - 65).toString("hex")}`,
    "[spki_alg]",
    "oid=OID:id-ecPublicKey",
    "curve=OID:prime256v1",
    "[extensions]",
    ...exts.map((_, i) => `ext${i}=SEQUENCE:ext${i}`),
    ...exts.flatMap(([oid, hex], i) => [
      `[ext${i}]`,
      `oid=OID:${oid}`,
      `value=FORMAT:HEX,OCTETSTRING:${hex}`,
    ]),
    "",
  ].join("\n");
  writeFileSync(file(`${name}.tbs.cnf`), `asn1=SEQUENCE:tbs\n${sections}`);
  openssl(["asn1parse", "-genconf", `${name}.tbs.cnf`, "-out", `${name}.tbs`, "-noout"]);
  openssl(["dgst", "-sha256", "-sign", "k.pem", "-out", `${name}.sig`, `${name}.tbs`]);
  const signature = readFileSync(file(`${name}.sig`)).toString("hex");
  writeFileSync(
    file(`${name}.cnf`),
    `asn1=SEQUENCE:cert\n[cert]\ntbs=SEQUENCE:tbs\nalg=SEQUENCE:sigalg\nsig=FORMAT:HEX,BITSTRING:${signature}\n${sections}`,
  );
  openssl(["asn1parse", "-genconf", `${name}.cnf`, "-out", `${name}.der`, "-noout"]);
  const der = new Uint8Array(readFileSync(file(`${name}.der`)));
  const pemFile = file(`${name}.pem`);
  const base64 = Buffer.from(der)
    .toString("base64")
    .replace(/.{1,64}/g, "$&\n");
  writeFileSync(pemFile, `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`);
  return { der, pemFile };
}

/** A date as OpenSSL prints it ("Mar 15 12:34:56.789 2027 GMT"), to whole seconds. */
const opensslDate = (text: string) => new Date(Date.parse(text.replace(/(\d\d:\d\d:\d\d)\.\d+/, "$1")));

/** genconf spellings: UTC/GENTIME check the text; IMPLICIT re-tags an IA5String for forms genconf itself refuses. */
const utc = (text: string) => `IMPLICIT:23U,IA5STRING:${text}`;
const gen = (text: string) => `IMPLICIT:24U,IA5STRING:${text}`;

/** Node's X509Certificate validTo, or undefined when this Node's OpenSSL cannot parse the certificate at all. */
function readableValidTo(der: Uint8Array): string | undefined {
  try {
    return new X509Certificate(der).validTo;
  } catch {
    return undefined;
  }
}

describe("certificate times in every form OpenSSL reads", () => {
  const forms: [label: string, value: string, verifierForm: boolean][] = [
    ["UTCTime YYMMDDHHMMSSZ", utc("270315123456Z"), true],
    ["UTCTime without seconds", utc("2703151234Z"), false],
    ["UTCTime with a +hhmm offset", utc("270315123456+0130"), false],
    ["UTCTime with a -hhmm offset", utc("270315123456-0845"), false],
    ["UTCTime without seconds, with an offset", utc("2703151234-0500"), false],
    ["UTCTime in 1950 (YY 50)", utc("500101000000Z"), true],
    ["UTCTime in 2049 (YY 49)", utc("491231235959Z"), true],
    ["GeneralizedTime before 2050", gen("20270315123456Z"), true],
    ["GeneralizedTime with fractional seconds", gen("20270315123456.789Z"), false],
    ["GeneralizedTime without seconds", gen("202703151234Z"), false],
    ["GeneralizedTime with an offset", gen("20270315123456+0200"), false],
    ["GeneralizedTime with fractional seconds and an offset", gen("20270315123456.5-0100"), false],
  ];
  for (const [label, value, verifierForm] of forms) {
    it(`reads ${label} as openssl x509 -enddate and Node's validTo do`, () => {
      const { der, pemFile } = certificate({ notAfter: value });
      const info = parseCertificate(der);
      const printed = openssl(["x509", "-in", pemFile, "-noout", "-enddate"])
        .trim()
        .replace(/^notAfter=/, "");
      assert.equal(
        info.notAfter.toISOString(),
        opensslDate(printed).toISOString(),
        `openssl printed ${printed}`,
      );
      // OpenSSL 3.5 (Node 22 and 24) no longer parses the forms its verifier refuses; OpenSSL 3.0 (Node 20) does.
      const nodeTime = readableValidTo(der);
      if (nodeTime !== undefined)
        assert.equal(info.notAfter.toISOString(), opensslDate(nodeTime).toISOString());
      else
        assert.equal(
          verifierForm,
          false,
          `Node's OpenSSL ${process.versions.openssl} refuses a form its verifier takes`,
        );
      assert.equal(info.constraints.invalidTime === undefined, verifierForm);
    });
  }

  it("reads GeneralizedTime without minutes (YYYYMMDDHHZ), which OpenSSL cannot read, and never lets it on a path", () => {
    const { der, pemFile } = certificate({ notAfter: gen("2027031512Z") });
    assert.match(openssl(["x509", "-in", pemFile, "-noout", "-enddate"]), /Bad time value/);
    const nodeTime = readableValidTo(der);
    assert.ok(nodeTime === undefined || nodeTime === "Bad time value", `Node read ${nodeTime}`);
    const info = parseCertificate(der);
    assert.equal(info.notAfter.toISOString(), "2027-03-15T12:00:00.000Z");
    assert.match(info.constraints.invalidTime ?? "", /notAfter "2027031512Z"/);
  });

  it("refuses on a path exactly the time forms openssl verify refuses (format error), whatever the date", () => {
    for (const [label, value, verifierForm] of forms.filter(([l]) => !/1950/.test(l))) {
      const { der, pemFile } = certificate({
        notAfter: value,
        extensions: [["basicConstraints", "30030101ff"]],
      });
      const verify = spawnSync("openssl", ["verify", "-CAfile", pemFile, pemFile], { encoding: "utf8" });
      const violation = certificateViolation(parseCertificate(der), 0, {
        now: new Date("2026-06-01T00:00:00Z"),
        anchor: true,
      });
      assert.equal(verify.status === 0, verifierForm, `${label}: ${verify.stdout}${verify.stderr}`);
      assert.equal(violation?.reason === "invalid-time", !verifierForm, `${label}: ${violation?.detail}`);
      if (!verifierForm)
        assert.match(`${verify.stdout}${verify.stderr}`, /format error in certificate's notAfter/);
    }
  });

  it("still refuses a time that is no date at all", () => {
    const { der } = certificate({ notAfter: utc("271332000000Z") });
    assert.throws(() => parseCertificate(der), /not a real date/);
  });
});

describe("extensions as OpenSSL reads them", () => {
  const dns = Buffer.from("api.keypin.test").toString("hex");
  const tlv = (tag: number, hex: string) =>
    `${tag.toString(16).padStart(2, "0")}${(hex.length / 2).toString(16).padStart(2, "0")}${hex}`;

  it("keeps iPAddress SANs of every length in ipAddressBytes and lists only 4- and 16-byte ones as addresses", () => {
    const ips = ["7f00000101", "7f000001ffffffff", "7f000001", `${"00".repeat(15)}01`, "", "7f0000"];
    const san = tlv(0x30, [tlv(0x82, dns), ...ips.map((ip) => tlv(0x87, ip))].join(""));
    const { der, pemFile } = certificate({
      notAfter: utc("270101000000Z"),
      extensions: [["subjectAltName", san]],
    });
    const info = parseCertificate(der);
    assert.deepEqual(info.subjectAltNames, { dns: ["api.keypin.test"], ip: ["127.0.0.1", "::1"] });
    assert.deepEqual(
      info.constraints.ipAddressBytes.map((b) => Buffer.from(b).toString("hex")),
      ips,
    );
    assert.deepEqual(info.constraints.problems, []);
    const printed = openssl(["x509", "-in", pemFile, "-noout", "-ext", "subjectAltName"]);
    assert.equal(printed.match(/IP Address:<invalid length=\d+>/g)?.length, 4, printed);
    assert.match(new X509Certificate(der).subjectAltName ?? "", /DNS:api\.keypin\.test/);
  });

  it("reads past bytes after an extension's value and ignores the content of unknown extensions", () => {
    const { der, pemFile } = certificate({
      notAfter: utc("270101000000Z"),
      extensions: [
        ["basicConstraints", "30030101ff00"],
        ["keyUsage", "030201060000"],
        ["1.2.3.4", "ff"],
        ["1.3.6.1.4.1.11129.2.4.2", "0403ffff"],
      ],
    });
    const text = openssl(["x509", "-in", pemFile, "-noout", "-text"]);
    assert.match(text, /CA:TRUE/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    const { constraints } = parseCertificate(der);
    assert.deepEqual(constraints.problems, []);
    assert.deepEqual(constraints.basicConstraints, { ca: true });
    assert.deepEqual(constraints.keyUsage, ["keyCertSign", "cRLSign"]);
    assert.deepEqual(constraints.present, ["2.5.29.19", "2.5.29.15", "1.2.3.4", "1.3.6.1.4.1.11129.2.4.2"]);
  });

  it("still records a known extension whose own content is malformed as a problem (OpenSSL marks it invalid)", () => {
    const { der } = certificate({
      notAfter: utc("270101000000Z"),
      extensions: [["basicConstraints", "0500"]],
    });
    assert.match(parseCertificate(der).constraints.problems[0] ?? "", /2\.5\.29\.19/);
  });
});
