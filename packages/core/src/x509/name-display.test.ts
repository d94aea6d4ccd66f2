// Review C1: a certificate's name as keypin shows it (info.subject, info.issuer, what error messages print) carries
// no C1 or bidirectional control raw, while the form names are compared in (info.names) keeps the decoded value.
// The certificate is made by openssl, from a UTF-8 subject.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { decodePem } from "../pem.js";
import { parseCertificate } from "./certificate.js";
import { canonicalText } from "./name.js";

/** C1 controls (U+009B is an 8-bit CSI, U+0085 a next-line) and the bidirectional and format controls. */
const HIDDEN = /[\u0080-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;
const CN =
  "\u009b2J\u009b31mkeypin: pin OK\u009b0m \u202emoc.tset \u0085\u061c\u200e\u200f\u2028\u2066\u2069\ufeffend";

describe("names as keypin shows them", () => {
  const dir = mkdtempSync(join(tmpdir(), "keypin-name-display-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("escapes C1 and bidirectional controls of an openssl-made certificate's subject as \\uXXXX, and compares names by the raw value", () => {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "c1.key"),
        "-out",
        join(dir, "c1.crt"),
        "-days",
        "2",
        "-utf8",
        "-subj",
        `/O=Keypin/CN=${CN}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const info = parseCertificate(decodePem(readFileSync(join(dir, "c1.crt"), "utf8"))[0]!.der);
    assert.ok(!HIDDEN.test(info.subject), JSON.stringify(info.subject));
    assert.ok(!HIDDEN.test(info.issuer), JSON.stringify(info.issuer));
    assert.equal(
      info.subject,
      "CN=\\u009b2J\\u009b31mkeypin: pin OK\\u009b0m \\u202emoc.tset \\u0085\\u061c\\u200e\\u200f\\u2028\\u2066\\u2069\\ufeffend, O=Keypin",
    );
    // The comparison form is made from the decoded value, not from the display form: the raw characters are there,
    // and a self-signed certificate's subject and issuer are still the same name.
    assert.equal(info.names.subject, JSON.stringify([["2.5.4.10=keypin"], [`2.5.4.3=${canonicalText(CN)}`]]));
    assert.equal(info.names.subject, info.names.issuer);
    assert.equal(info.subject, info.issuer);
  });
});
