// The hand-written fast paths of the certificate reader (issue 19) give what the general code gives.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeLatin1, decodeUtf8 } from "../bytes.js";
import { readNode, readOid } from "../der.js";
import {
  canonicalJson,
  canonicalName,
  canonicalText,
  decodeDirectoryString,
  escapeRdnValue,
  readNameForms,
} from "./name.js";
import { isVerifierTime, readTime } from "./time.js";

/** The canonical form as it was written before (three regular expressions), the reference. */
function canonicalReference(text: string): string {
  return text
    .replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, "")
    .replace(/[\t\n\v\f\r ]+/g, " ")
    .replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const tlv = (tag: number, value: Uint8Array) => Uint8Array.from([tag, value.length, ...value]);

/** readTime's answer as a comparable value: the instant, or "throws". */
function timeOf(tag: number, text: string): number | "throws" {
  const der = tlv(tag, ascii(text));
  try {
    return readTime(der, readNode(der, 0)).getTime();
  } catch {
    return "throws";
  }
}

const two = (n: number) => String(n).padStart(2, "0");

/** RFC 4514 escaping as it was written before the no-escape shortcut, the reference. */
function escapeReference(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0")}`;
    else if (/[\x80-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/.test(c))
      out += `\\u${code.toString(16).padStart(4, "0")}`;
    else if (',+"\\<>;'.includes(c)) out += `\\${c}`;
    else if ((i === 0 && (c === " " || c === "#")) || (i === value.length - 1 && c === " ")) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** Bytes that reach every branch: ASCII, the characters RFC 4514 and JSON escape, and non-ASCII UTF-8. */
const someBytes = fc.array(
  fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(0x20, 0x23, 0x2c, 0x2b, 0x22, 0x5c, 0x3c, 0x3e, 0x3b, 0x7f, 0x00, 0x41, 0x61),
  ),
  { maxLength: 300 },
);

/** Characters for the display form: escaped ones, their escapes' own letters, and plain text around them. */
const displayChar = fc.constantFrom(
  ..."\\u0+,# a9bf\u007f\u0080\u009b\u009f\u00a0\u061c\u200d\u200e\u200f\u2028\u202a\u202e\u202f\u2066\u2069\u206a\ufeff\ufffd",
  "\\u009b",
  "\\1b",
  "\u001b",
);

describe("certificate reader fast paths", () => {
  it("decodes string values as decodeUtf8 and decodeLatin1 do, ASCII or not, short or long", () => {
    fc.assert(
      fc.property(someBytes, fc.constantFrom(0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a), (bytes, tag) => {
        const value = Uint8Array.from(bytes);
        const der = Uint8Array.from([tag, 0x82, value.length >> 8, value.length & 0xff, ...value]);
        const node = { tag, start: 0, valueStart: 4, end: der.length };
        const reference = tag === 0x0c ? decodeUtf8(value) : decodeLatin1(value);
        assert.equal(decodeDirectoryString(der, node), reference);
      }),
      { numRuns: 3000 },
    );
  });

  it("escapes RDN values exactly as the character loop did", () => {
    fc.assert(
      fc.property(someBytes, (bytes) => {
        const text = String.fromCharCode(...bytes.slice(0, 40));
        assert.equal(escapeRdnValue(text), escapeReference(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.array(displayChar, { maxLength: 24 }), (chars) => {
        const text = chars.join("");
        assert.equal(escapeRdnValue(text), escapeReference(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
    for (const text of ["", " ", "#a", "a#", "a ", " a", "a,b", "plain text", "\u0000", "\u009b", "a\u202eb"])
      assert.equal(escapeRdnValue(text), escapeReference(text));
  });

  it("shows C1 and bidirectional controls as \\uXXXX, and two values get the same text only when they are equal", () => {
    assert.equal(escapeRdnValue("\u009b2J \u202emoc"), "\\u009b2J \\u202emoc");
    assert.equal(
      escapeRdnValue("\u061c\u200e\u200f\u2028\u2066\u2069\ufeff"),
      "\\u061c\\u200e\\u200f\\u2028\\u2066\\u2069\\ufeff",
    );
    assert.equal(escapeRdnValue("\u00a0\u00e9\u2030"), "\u00a0\u00e9\u2030", "printable non-ASCII is kept");
    // The display form is compared for equality (a self-issued certificate's subject and issuer, the lab's lookups):
    // escaping must stay one-to-one, a raw control and its escape written out never meet.
    assert.notEqual(escapeRdnValue("\u009b"), escapeRdnValue("\\u009b"));
    fc.assert(
      fc.property(
        fc.array(displayChar, { maxLength: 8 }),
        fc.array(displayChar, { maxLength: 8 }),
        (a, b) => {
          const [x, y] = [a.join(""), b.join("")];
          assert.equal(escapeRdnValue(x) === escapeRdnValue(y), x === y, JSON.stringify([x, y]));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("writes the canonical form of names as JSON.stringify does", () => {
    const entry = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('2.5.4.3=a"b', "2.5.4.3=a\\b", "2.5.4.3=\n", "x\ud800y", "\u{1f600}", "2.5.4.3=keypin"),
    );
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 3 }), { maxLength: 4 }), (rdns) => {
        assert.equal(canonicalJson(rdns), JSON.stringify(rdns));
      }),
      { numRuns: 3000 },
    );
  });

  it("canonicalizes names exactly as the regular expressions did", () => {
    const chars = fc.constantFrom(..."aZ Q\t\n\v\f\r\u00a0É ß1-.\u2028", "\u{1f600}", "  ", "\r\n");
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 24 }), (parts) => {
        const text = parts.join("");
        assert.equal(canonicalText(text), canonicalReference(text), JSON.stringify(text));
      }),
      { numRuns: 3000 },
    );
    assert.equal(canonicalText("  Keypin\t\tTEST  root \n"), "keypin test root");
    assert.equal(canonicalText(""), "");
  });

  it("reads a YYMMDDHHMMSSZ time as the general reader reads the same instant with a fraction of a second", () => {
    // The verifier's form takes the fast path; GeneralizedTime with ".0" cannot, so it is the reference.
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 14 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        (yy, mo, d, h, mi, s) => {
          const utc = `${two(yy)}${two(mo)}${two(d)}${two(h)}${two(mi)}${two(s)}Z`;
          const year = yy >= 50 ? 1900 + yy : 2000 + yy;
          const generalized = `${year}${utc.slice(2, 12)}`;
          assert.ok(isVerifierTime(tlv(0x17, ascii(utc)), readNode(tlv(0x17, ascii(utc)), 0)));
          const reference = timeOf(0x18, `${generalized}.0Z`);
          assert.equal(timeOf(0x17, utc), reference, utc);
          assert.equal(timeOf(0x18, `${generalized}Z`), reference, generalized);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("reads GeneralizedTime years below 100 and the forms the verifier refuses as before", () => {
    assert.equal(timeOf(0x18, "00500101000000Z"), timeOf(0x18, "00500101000000.0Z"));
    const year50 = new Date(Date.UTC(2000, 0, 1));
    year50.setUTCFullYear(50);
    assert.equal(timeOf(0x18, "00500101000000Z"), year50.getTime());
    assert.equal(timeOf(0x17, "2501010000Z"), Date.UTC(2025, 0, 1));
    assert.equal(timeOf(0x17, "250101000000+0100"), Date.UTC(2024, 11, 31, 23));
    assert.equal(
      isVerifierTime(tlv(0x17, ascii("2501010000Z")), readNode(tlv(0x17, ascii("2501010000Z")), 0)),
      false,
    );
    assert.equal(
      isVerifierTime(tlv(0x17, ascii("25010100000aZ")), readNode(tlv(0x17, ascii("25010100000aZ")), 0)),
      false,
    );
    assert.equal(timeOf(0x17, "25010100000aZ"), "throws");
  });

  it("gives an authorityKeyIdentifier's issuer name the same canonical form as a certificate's names", () => {
    const atv = (oid: string, value: string) =>
      tlv(0x30, Uint8Array.from([...tlv(0x06, Buffer.from(oid, "hex")), ...tlv(0x0c, ascii(value))]));
    const cn = atv("550403", "Keypin  Root");
    const o = atv("55040a", "Tests");
    const nameOf = (...atvs: Uint8Array[]) =>
      tlv(0x30, tlv(0x31, Uint8Array.from(atvs.flatMap((a) => [...a]))));
    const [one, other] = [nameOf(cn, o), nameOf(o, cn)];
    const canonical = (der: Uint8Array) => canonicalName(der, readNode(der, 0));
    assert.equal(canonical(one), readNameForms(one, readNode(one, 0)).canonical);
    assert.equal(
      canonical(one),
      canonical(other),
      "a multi-valued RDN's order does not matter (a DER SET OF)",
    );
    assert.equal(readNameForms(other, readNode(other, 0)).canonical, canonical(one));
  });

  it("writes OIDs in dotted form, the first two arcs split as X.690 says", () => {
    const oid = (hex: string) => {
      const der = tlv(0x06, Buffer.from(hex, "hex"));
      return readOid(der, readNode(der, 0));
    };
    assert.equal(oid("2a864886f70d01010b"), "1.2.840.113549.1.1.11");
    assert.equal(oid("550403"), "2.5.4.3");
    assert.equal(oid("0027"), "0.0.39");
    assert.equal(oid("8837"), "2.999");
    assert.throws(() => oid("2a8048"), /not minimally encoded/);
    assert.throws(() => oid("2a86"), /cut off/);
  });
});
