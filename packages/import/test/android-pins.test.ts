// Android's <pin> as XmlConfigSource reads it: the digest attribute compared with "SHA-256".equalsIgnoreCase
// (Pin.isSupportedDigestAlgorithm), the text decoded by android.util.Base64.decode(text, DEFAULT), whose table
// skips every byte outside the alphabet and "=" (frameworks/base core/java/android/util/Base64.java, read for
// these expectations: no Android runtime runs here), and 32 bytes required. Elements keypin does not know inside
// <network-security-config> are reported, never silently passed over.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ImportError, type ImportedSource, importFile } from "@keypin/import";

const b64 = (b: number) => Buffer.alloc(32, b).toString("base64");
const P = (b: number) => `sha256/${b64(b)}`;

const nsc = (pins: string, extra = "") =>
  `<?xml version="1.0" encoding="utf-8"?>
<network-security-config xmlns:x="urn:example">
  <domain-config>
    <domain>api.example.com</domain>
    <pin-set>${pins}</pin-set>
  </domain-config>${extra}
</network-security-config>
`;

const read = (xml: string): ImportedSource => importFile("network_security_config.xml", xml).sources[0]!;
const pinsOf = (s: ImportedSource) => s.domains.flatMap((d) => d.pins.map((p) => p.pin));

test("Android: digest is compared ignoring case, as Java's equalsIgnoreCase does (a long s too)", () => {
  for (const digest of ["SHA-256", "sha-256", "Sha-256", "\u017fha-256"]) {
    const source = read(nsc(`<pin digest="${digest}">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin>`));
    assert.deepEqual(pinsOf(source), [P(1), P(2)], digest);
  }
  for (const digest of ["SHA256", "SHA-1", " SHA-256", "SHA-2560"]) {
    assert.throws(
      () => read(nsc(`<pin digest="${digest}">${b64(1)}</pin>`)),
      (e: unknown) => e instanceof ImportError && /Android accepts only digest="SHA-256"/.test(e.message),
      digest,
    );
  }
});

test("Android: a pin's base64 split over lines, or with characters Android's decoder skips, is read as Android reads it", () => {
  const one = b64(1);
  const split = `${one.slice(0, 20)}\n            ${one.slice(20)}`;
  const source = read(nsc(`<pin digest="SHA-256">${split}</pin><pin digest="SHA-256">${b64(2)}</pin>`));
  assert.deepEqual(pinsOf(source), [P(1), P(2)]);
  assert.deepEqual(
    source.findings.filter((f) => f.kind !== "changed" || !/skips/.test(f.message)).length,
    source.findings.length,
    "white space alone is not reported",
  );
  // Skipped bytes: punctuation, a non-ASCII character (each of its UTF-8 bytes), after the padding too.
  const noisy = `${one.slice(0, 4)}!${one.slice(4, 10)}\u00e9${one.slice(10, 43)}= *`;
  const withNoise = read(nsc(`<pin digest="SHA-256">${noisy}</pin><pin digest="SHA-256">${b64(2)}</pin>`));
  assert.deepEqual(pinsOf(withNoise), [P(1), P(2)]);
  assert.ok(
    withNoise.findings.some(
      (f) => f.kind === "changed" && /skips every character outside base64/.test(f.message),
    ),
    JSON.stringify(withNoise.findings),
  );
  // Padding is optional; the unused low bits of the last character are not checked.
  const unpadded = read(
    nsc(`<pin digest="SHA-256">${one.slice(0, 43)}</pin><pin digest="SHA-256">${b64(2)}</pin>`),
  );
  assert.deepEqual(pinsOf(unpadded), [P(1), P(2)]);
});

test("Android: base64 its decoder refuses, or that is not 32 bytes, is refused with the line", () => {
  const one = b64(1);
  for (const text of [
    `${one.slice(0, 43)}==`, // "=" after three characters of a quad allows nothing more but skipped bytes
    `${one}A`, // data after the padding
    `${one.slice(0, 40)}A=`, // "=" after one character of a quad
    b64(1).slice(0, 42), // 31 bytes
    Buffer.alloc(33, 1).toString("base64"),
  ]) {
    assert.throws(
      () => read(nsc(`\n<pin digest="SHA-256">${text}</pin>`)),
      (e: unknown) => e instanceof ImportError && /:6: <pin> holds/.test(e.message),
      text,
    );
  }
});

test("Android: elements keypin does not know inside network-security-config are reported, prefixed ones as unreadable", () => {
  const source = read(
    nsc(
      `<pin digest="SHA-256">${b64(1)}</pin><pin digest="SHA-256">${b64(2)}</pin><pin-note/>`,
      `
  <x:domain-config><domain>hidden.example.com</domain><pin-set><pin digest="SHA-256">${b64(3)}</pin></pin-set></x:domain-config>
  <domain-configs><domain>typo.example.com</domain></domain-configs>`,
    ),
  );
  assert.deepEqual(
    source.domains.map((d) => d.domain),
    ["api.example.com"],
  );
  const byLine = source.findings.map((f) => [f.kind, f.place.line, f.message.slice(0, 40)]);
  assert.deepEqual(
    byLine,
    [
      ["dropped", 5, "<pin-note> is not an element keypin know"],
      ["unreadable", 7, "<x:domain-config> in <network-security-c"],
      ["dropped", 8, "<domain-configs> is not an element keypi"],
    ],
    JSON.stringify(source.findings),
  );
});
