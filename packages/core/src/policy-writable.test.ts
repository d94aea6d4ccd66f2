// Review 2, findings 5 and 6: validation accepts only what every exporter can write. A pin label is written
// into XML and plist comments, so it holds only characters XML 1.0 allows; a report URI is written as a
// string literal in Swift, Kotlin, Java and TypeScript, so it is an ASCII RFC 3986 absolute http(s) URI.
// The JSON Schema shares the patterns (ajv is the second judge); Node's WHATWG URL parser is the outside
// oracle that every accepted report URI parses as http(s) with a host.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { normalizePolicy } from "./policy/normalize.js";
import { validatePolicy } from "./policy/validate.js";
import { policySchema } from "./schema.js";

const A = `sha256/${createHash("sha256").update("key A").digest("base64")}`;
const B = `sha256/${createHash("sha256").update("key B").digest("base64")}`;
const schema = new Ajv2020({ strict: true, allErrors: true }).compile(policySchema);

const withLabel = (label: string) => ({
  domains: {
    "api.example.com": {
      pins: [
        { pin: A, role: "leaf", label },
        { pin: B, role: "backup" },
      ],
    },
  },
});
const withUri = (uri: string) => ({
  domains: { "api.example.com": { pins: [A, { pin: B, role: "backup" }], reportUris: [uri] } },
});

function refused(doc: unknown, path: string, message: RegExp): void {
  const r = validatePolicy(doc);
  assert.equal(r.ok, false, `validatePolicy accepted ${JSON.stringify(doc)}`);
  if (r.ok) return;
  const p = r.problems.find((x) => x.path === path);
  assert.ok(p, `a problem at ${path}: ${JSON.stringify(r.problems)}`);
  assert.match(p.message, message);
  assert.equal(schema(doc), false, "the JSON Schema refuses it too");
}

describe("policy: pin labels are text XML 1.0 can hold (review 2, finding 5)", () => {
  for (const [name, label, code] of [
    ["U+FFFF (the review's example)", "key \uffff", "U+FFFF at index 4"],
    ["U+FFFE", "\ufffekey", "U+FFFE at index 0"],
    ["an unpaired high surrogate", "a\ud800", "U+D800 at index 1"],
    ["an unpaired low surrogate", "\udc00b", "U+DC00 at index 0"],
    ["NUL", "a\u0000", "U+0000 at index 1"],
    ["a vertical tab", "a\u000bb", "U+000B at index 1"],
    ["ESC", "\u001b[31m", "U+001B at index 0"],
  ] as const) {
    it(`refuses a label holding ${name}, naming the character and why`, () => {
      refused(
        withLabel(label),
        "/domains/api.example.com/pins/0/label",
        new RegExp(`${code.replace("+", "\\+")}.*XML 1\\.0`),
      );
      assert.throws(
        () =>
          normalizePolicy({
            domains: [
              {
                domain: "api.example.com",
                pins: [
                  { pin: A, label },
                  { pin: B, role: "backup" },
                ],
              },
            ],
          }),
        { code: "ERR_KEYPIN_POLICY" },
        "a normalized policy is held to the same rule",
      );
    });
  }

  for (const [name, label] of [
    ["tab, LF and CR", "a\tb\nc\r"],
    ["U+FFFD", "\ufffd"],
    ["a paired surrogate (an emoji)", "backup \u{1f511}"],
    ["C1 controls and DEL (XML 1.0 allows them; comments replace them)", "\u007f\u0085\u009f"],
    ["the last code point", "\u{10ffff}"],
  ] as const) {
    it(`accepts a label holding ${name}`, () => {
      const r = validatePolicy(withLabel(label));
      assert.equal(r.ok, true, JSON.stringify(!r.ok && r.problems));
      assert.equal(schema(withLabel(label)), true, JSON.stringify(schema.errors));
    });
  }

  it("accepts exactly the labels the XML 1.0 Char production allows (every code unit around the edges)", () => {
    const xmlChar = (c: number) =>
      c === 9 || c === 10 || c === 13 || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd);
    const units = [
      ...Array.from({ length: 0x21 }, (_, i) => i),
      0xd7ff,
      0xd800,
      0xdbff,
      0xdc00,
      0xdfff,
      0xe000,
      0xfffd,
      0xfffe,
      0xffff,
    ];
    for (const c of units) {
      const label = `x${String.fromCharCode(c)}y`;
      assert.equal(validatePolicy(withLabel(label)).ok, xmlChar(c), `U+${c.toString(16)}`);
      assert.equal(schema(withLabel(label)), xmlChar(c), `schema, U+${c.toString(16)}`);
    }
  });
});

describe("policy: report URIs are ASCII RFC 3986 absolute http(s) URIs (review 2, finding 6)", () => {
  for (const [name, uri, why] of [
    ["a non-ASCII letter (the review's example)", "https://r.example.com/\u00e9", /U\+00E9 at index 22/],
    ["a control character", "https://r.example.com/\u0001", /U\+0001 at index 22/],
    ["DEL", "https://r.example.com/a\u007f", /U\+007F at index 23/],
    ["a double quote", 'https://r.example.com/"x', /U\+0022 at index 22/],
    ["a backslash", "https://r.example.com/a\\b", /U\+005C at index 23/],
    ["a space", "https://r.example.com/a b", /U\+0020/],
    ["braces", "https://r.example.com/{id}", /U\+007B/],
    ["a non-ASCII host", "https://b\u00fccher.example/r", /U\+00FC/],
    ["a bad percent escape", "https://r.example.com/%zz", /RFC 3986/],
    ["an unclosed IPv6 literal", "https://[::1/r", /RFC 3986/],
    ["no host", "https:///r", /RFC 3986/],
    ["another scheme", "ftp://r.example.com/", /http:\/\/ or https:\/\//],
    ["a relative reference", "//r.example.com/", /absolute/],
    ["U+FFFF", "https://r.example.com/\uffff", /U\+FFFF/],
    ["a percent-escaped host (URL parsers refuse %00)", "https://%00/r", /a host name/],
    ["an IPv4-looking host out of range", "https://1.2.3.256/r", /its last label not a number/],
    ["a last label URL parsers read as a hex number", "https://a.0x1f/r", /its last label not a number/],
    ["a port above 65535", "https://r.example.com:65536/r", /a port up to 65535/],
  ] as const) {
    it(`refuses a report URI with ${name}, saying what to write instead`, () => {
      refused(withUri(uri), "/domains/api.example.com/reportUris/0", why);
      refused(withUri(uri), "/domains/api.example.com/reportUris/0", /percent-encoded/);
      if (
        /^https?:\/\/[\x21-\x7e]*$/.test(uri) &&
        /percent-escaped host|IPv4-looking|hex number|port above/.test(name)
      )
        assert.equal(URL.canParse(uri), false, "the WHATWG URL parser refuses it too (control)");
    });
  }

  it("refuses a report URI whose host has an xn-- label that does not decode, which the schema cannot see", () => {
    const doc = withUri("https://xn--a.example/r");
    const r = validatePolicy(doc);
    assert.equal(r.ok, false);
    assert.match(
      !r.ok ? (r.problems[0]?.message ?? "") : "",
      /label "xn--a" decodes to U\+0080.*URL parsers refuse it/,
    );
    assert.equal(URL.canParse("https://xn--a.example/r"), false, "the WHATWG parser refuses it (control)");
    assert.equal(schema(doc), true, "the schema, without a Punycode decoder, accepts it");
  });

  for (const uri of [
    "https://r.example.com/pins",
    "https://r.example.com/%C3%A9?x=1&y=a%20b#frag",
    "http://[::1]:8080/report",
    "http://127.0.0.1:9/r",
    "https://user:pass@r.example.com/r",
    "https://r.example.com",
    "https://r.example.com/a;b=c/(d)*!$'+,@:~",
  ]) {
    it(`accepts ${uri}`, () => {
      const r = validatePolicy(withUri(uri));
      assert.equal(r.ok, true, JSON.stringify(!r.ok && r.problems));
      assert.equal(schema(withUri(uri)), true, JSON.stringify(schema.errors));
    });
  }

  it("accepts fast-check's web URLs, and every URI it accepts is printable ASCII that WHATWG URL parses as http(s)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true }),
          fc.string({ unit: "binary", maxLength: 30 }).map((s) => `https://r.example.com/${s}`),
          fc.string({ unit: "grapheme-ascii", maxLength: 30 }).map((s) => `https://${s}`),
          fc.stringMatching(/^[a-f0-9x.%:@[\]-]{1,16}$/).map((s) => `http://${s}/r`),
          fc
            .tuple(fc.ipV4Extended(), fc.integer({ min: 0, max: 70000 }))
            .map(([ip, port]) => `https://${ip}:${port}/r`),
        ),
        (uri) => {
          const ok = validatePolicy(withUri(uri)).ok;
          assert.equal(schema(withUri(uri)), ok, `the schema agrees on ${JSON.stringify(uri)}`);
          if (!ok) return;
          accepted++;
          assert.match(uri, /^[\x21-\x7e]+$/, "printable ASCII, no space");
          const url = new URL(uri);
          assert.ok(url.protocol === "https:" || url.protocol === "http:");
          assert.notEqual(url.hostname, "");
        },
      ),
      { numRuns: 2000 },
    );
    assert.ok(accepted > 300, `only ${accepted} accepted`);
  });

  it("accepts every fast-check web URL (none is refused by mistake)", () => {
    fc.assert(
      fc.property(
        fc.webUrl({ validSchemes: ["https", "http"], withQueryParameters: true, withFragments: true }),
        (uri) => {
          const r = validatePolicy(withUri(uri));
          assert.equal(r.ok, true, `${uri}: ${JSON.stringify(!r.ok && r.problems)}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
