// A certificate's names are remembered by their exact DER bytes (certificate.ts): every certificate still gets the
// names its own bytes spell, whatever was read before it, and Node's own reader (OpenSSL) agrees on each.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { childrenOf, encodeNode, readNode, TAG } from "../der.js";
import { decodePem } from "../pem.js";
import { parseCertificate } from "./certificate.js";
import { readNameForms } from "./name.js";

let dir = "";
let template: Uint8Array;
const openssl = (args: string) =>
  execFileSync("sh", ["-c", `openssl ${args}`], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-name-memo-"));
  openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem");
  openssl('req -x509 -new -key k.pem -out c.pem -days 3 -subj "/O=Memo Test/CN=memo.keypin.test"');
  template = decodePem(readFileSync(join(dir, "c.pem"), "utf8"))[0]!.der;
});
after(() => rmSync(dir, { recursive: true, force: true }));

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** The template certificate with its issuer (tbsCertificate field 3) and subject (field 5) replaced. */
function withNames(issuer: Uint8Array, subject: Uint8Array): Uint8Array {
  const cert = readNode(template, 0);
  const [tbsNode, algorithm, signature] = childrenOf(template, cert) as [
    ReturnType<typeof readNode>,
    ReturnType<typeof readNode>,
    ReturnType<typeof readNode>,
  ];
  const fields = childrenOf(template, tbsNode).map((n) => template.subarray(n.start, n.end));
  fields[3] = issuer; // [0] version, serial, signature, issuer, validity, subject, …
  fields[5] = subject;
  const tbs = encodeNode(TAG.SEQUENCE, concat(fields));
  const rest = [algorithm, signature].map((n) => template.subarray(n.start, n.end));
  return encodeNode(TAG.SEQUENCE, concat([tbs, ...rest]));
}

/** A Name of one RDN per value: CN with the given string type (UTF8String 0x0c, PrintableString 0x13, IA5String 0x16). */
function nameOf(values: { tag: number; text: string }[]): Uint8Array {
  const cnOid = Uint8Array.from([0x06, 0x03, 0x55, 0x04, 0x03]);
  const rdns = values.map(({ tag, text }) => {
    const value = encodeNode(tag, new TextEncoder().encode(text));
    return encodeNode(TAG.SET, encodeNode(TAG.SEQUENCE, concat([cnOid, value])));
  });
  return encodeNode(TAG.SEQUENCE, concat(rdns));
}

const fresh = (name: Uint8Array) => readNameForms(name, readNode(name, 0));

describe("names remembered by their bytes", () => {
  it("gives each certificate the names its own bytes spell, case and string type included", () => {
    const upper = nameOf([{ tag: 0x13, text: "Memo CA" }]);
    const lower = nameOf([{ tag: 0x13, text: "memo ca" }]);
    const utf8 = nameOf([{ tag: 0x0c, text: "Memo CA" }]);
    const a = parseCertificate(withNames(upper, lower));
    const b = parseCertificate(withNames(lower, upper));
    const c = parseCertificate(withNames(utf8, utf8));
    assert.equal(a.issuer, "CN=Memo CA");
    assert.equal(a.subject, "CN=memo ca");
    assert.equal(b.issuer, "CN=memo ca");
    assert.equal(b.subject, "CN=Memo CA");
    // OpenSSL compares names case-insensitively, so all three canonical forms are one.
    assert.equal(a.names.issuer, a.names.subject);
    assert.equal(c.names.subject, a.names.issuer);
    // Node reads the same certificates the same way (its subject lists the attribute as CN=…).
    for (const [info, text] of [
      [a, "memo ca"],
      [b, "Memo CA"],
      [c, "Memo CA"],
    ] as const)
      assert.equal(new X509Certificate(info.der).subject, `CN=${text}`);
  });

  it("matches a fresh reading for random names read in any order, repeats included", () => {
    const value = fc.record({
      tag: fc.constantFrom(0x0c, 0x13, 0x16),
      text: fc.stringMatching(/^[A-Za-z0-9 ]{1,12}$/),
    });
    const name = fc.array(value, { minLength: 1, maxLength: 3 }).map(nameOf);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, name), { minLength: 1, maxLength: 8 }), (pairs) => {
        for (const [issuer, subject] of [...pairs, ...pairs.slice().reverse()]) {
          const info = parseCertificate(withNames(issuer, subject));
          const i = fresh(issuer);
          const s = fresh(subject);
          assert.deepEqual([info.issuer, info.names.issuer], [i.text, i.canonical]);
          assert.deepEqual([info.subject, info.names.subject], [s.text, s.canonical]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("still refuses a malformed name after a good one with the same start", () => {
    const good = nameOf([{ tag: 0x13, text: "Memo" }]);
    parseCertificate(withNames(good, good));
    const bad = Uint8Array.from([0x30, 0x03, 0x04, 0x01, 0x00]); // a Name whose RDN is no SET
    assert.throws(() => parseCertificate(withNames(bad, good)), /RelativeDistinguishedName/);
    assert.throws(() => parseCertificate(withNames(bad, good)), /RelativeDistinguishedName/);
  });
});
