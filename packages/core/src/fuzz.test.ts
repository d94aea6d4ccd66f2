// Property tests: whatever bytes or text arrive, the readers either succeed or throw KeypinParseError
// with a byte offset, and finish; valid material gives the same pin in every accepted encoding.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { spkiOfCertificate } from "./certificate-pin.js";
import { KeypinParseError } from "./errors.js";
import { decodePem } from "./pem.js";
import { computePin } from "./pin.js";
import { parseCertificate } from "./x509/certificate.js";
import { readKeyMaterial } from "./x509/key-material.js";
import { parseSpki } from "./x509/spki.js";

const sha256 = (d: Uint8Array) => new Uint8Array(createHash("sha256").update(d).digest());

interface Sample {
  name: string;
  label: string;
  der: Uint8Array;
  pin: string;
}
const samples: Sample[] = [];
let dir = "";
let casesRun = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "keypin-core-fuzz-"));
  const f = (n: string) => join(dir, n);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  const keys = [
    ["rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]],
    ["p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]],
    ["ed448", ["-algorithm", "ED448"]],
  ] as const;
  for (const [name, genpkey] of keys) {
    openssl("genpkey", ...genpkey, "-out", f(`${name}.key`));
    openssl(
      "req",
      "-x509",
      "-new",
      "-key",
      f(`${name}.key`),
      "-out",
      f(`${name}.crt`),
      "-days",
      "5",
      "-subj",
      `/O=Fuzz/CN=${name}.fuzz.test`,
      "-addext",
      `subjectAltName=DNS:${name}.fuzz.test,IP:10.0.0.1`,
    );
    openssl("pkey", "-in", f(`${name}.key`), "-pubout", "-out", f(`${name}.pub`));
    openssl("req", "-new", "-key", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${name}`);
    for (const [suffix, label] of [
      ["crt", "CERTIFICATE"],
      ["pub", "PUBLIC KEY"],
      ["csr", "CERTIFICATE REQUEST"],
    ] as const) {
      const block = decodePem(readFileSync(f(`${name}.${suffix}`), "utf8"))[0]!;
      assert.equal(block.label, label);
      const [m] = readKeyMaterial(block.der);
      assert.ok(m && m.kind !== "private-key");
      samples.push({ name: `${name}.${suffix}`, label, der: block.der, pin: computePin(m.spki, sha256) });
    }
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `fn`; anything thrown must be a KeypinParseError whose offset lies inside the input. */
function onlyParseErrors(fn: () => unknown, inputLength: number): void {
  casesRun++;
  try {
    fn();
  } catch (e) {
    if (!(e instanceof KeypinParseError)) throw e;
    assert.equal(e.code, "ERR_KEYPIN_PARSE");
    assert.ok(
      Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= inputLength,
      `offset ${e.offset} of ${inputLength}`,
    );
  }
}

function readAll(der: Uint8Array): void {
  onlyParseErrors(() => readKeyMaterial(der), der.length);
  onlyParseErrors(() => parseCertificate(der), der.length);
  onlyParseErrors(() => spkiOfCertificate(der), der.length);
  onlyParseErrors(() => parseSpki(der), der.length);
}

/** Offsets of the length octets of every constructed TLV header in a valid DER (walked by hand here). */
function lengthFields(der: Uint8Array): number[] {
  const out: number[] = [];
  const stack: [number, number][] = [[0, der.length]];
  while (stack.length > 0 && out.length < 500) {
    const [start, end] = stack.pop()!;
    let p = start;
    while (p + 2 <= end) {
      const tag = der[p]!;
      const first = der[p + 1]!;
      const n = first < 0x80 ? 0 : first & 0x7f;
      let len = first < 0x80 ? first : 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p + 2 + i]!;
      const valueStart = p + 2 + n;
      out.push(p + 1);
      if (tag & 0x20) stack.push([valueStart, valueStart + len]);
      p = valueStart + len;
    }
  }
  return out;
}

const sample = () => fc.integer({ min: 0, max: samples.length - 1 }).map((i) => samples[i]!);

describe("fuzzing the DER and PEM readers", () => {
  it("throws only KeypinParseError with an in-range offset for random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => readAll(bytes)),
      { numRuns: 2500 },
    );
  });

  it("throws only KeypinParseError for random bytes behind a plausible SEQUENCE header", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (body) => {
        const der = new Uint8Array([0x30, 0x82, body.length >> 8, body.length & 0xff, ...body]);
        readAll(der);
      }),
      { numRuns: 1500 },
    );
  });

  it("throws only KeypinParseError for truncated real certificates, keys and CSRs", () => {
    fc.assert(
      fc.property(sample(), fc.double({ min: 0, max: 1, noNaN: true }), (s, at) => {
        readAll(s.der.subarray(0, Math.floor(at * s.der.length)));
      }),
      { numRuns: 1500 },
    );
  });

  it("throws only KeypinParseError for real material with flipped bytes", () => {
    fc.assert(
      fc.property(
        sample(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        (s, flips) => {
          const der = s.der.slice();
          for (const [i, x] of flips) der[i % der.length] = der[i % der.length]! ^ x;
          readAll(der);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it("throws only KeypinParseError for real material with corrupted length fields", () => {
    fc.assert(
      fc.property(
        sample(),
        fc.nat(),
        fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x84, 0x85, 0x89, 0xff),
        fc.integer({ min: -3, max: 3 }),
        (s, pick, value, delta) => {
          const der = s.der.slice();
          const fields = lengthFields(der);
          const at = fields[pick % fields.length]!;
          der[at] = delta === 0 ? value : (der[at]! + delta) & 0xff;
          readAll(der);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it("throws only KeypinParseError for mutated PEM text", () => {
    fc.assert(
      fc.property(
        sample(),
        fc.array(
          fc.tuple(fc.nat(), fc.constantFrom("delete", "insert", "replace"), fc.string({ maxLength: 3 })),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        (s, edits) => {
          let text = pemOf(s.der, s.label, 64, "\n");
          for (const [i, op, str] of edits) {
            const at = i % (text.length + 1);
            if (op === "delete") text = text.slice(0, at) + text.slice(at + 1 + (str.length % 3));
            else if (op === "insert") text = text.slice(0, at) + str + text.slice(at);
            else text = text.slice(0, at) + str + text.slice(at + str.length);
          }
          onlyParseErrors(() => readKeyMaterial(text), text.length);
          onlyParseErrors(() => decodePem(text), text.length);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("finishes on deeply nested and very long inputs without recursion", () => {
    const nested = new Uint8Array(200_000);
    for (let i = 0; i < nested.length; i += 2) {
      nested[i] = 0x30;
      nested[i + 1] = 0x80;
    }
    readAll(nested);
    const deep = new Uint8Array(60_000);
    for (let i = 0; i + 6 <= deep.length; i += 6) deep.set([0x30, 0x84, 0, 0, 0xff, 0xff], i);
    readAll(deep);
    const manyBlocks = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".repeat(20_000);
    onlyParseErrors(() => decodePem(manyBlocks), manyBlocks.length);
    onlyParseErrors(() => readKeyMaterial(manyBlocks), manyBlocks.length);
  });

  it("gives the same pin for valid material in every accepted encoding", () => {
    fc.assert(
      fc.property(
        sample(),
        fc.integer({ min: 1, max: 120 }),
        fc.constantFrom("\n", "\r\n"),
        fc.string({ maxLength: 40 }).filter((t) => !t.includes("-----")),
        fc.string({ maxLength: 40 }).filter((t) => !t.includes("-----")),
        fc.boolean(),
        (s, width, eol, before, after, asBytes) => {
          casesRun++;
          const text = `${before}${eol}${pemOf(s.der, s.label, width, eol)}${after}`;
          const input = asBytes ? new TextEncoder().encode(text) : text;
          const [fromPem] = readKeyMaterial(input);
          assert.ok(fromPem && fromPem.kind !== "private-key");
          assert.equal(computePin(fromPem.spki, sha256), s.pin);
          const [fromDer] = readKeyMaterial(s.der);
          assert.ok(fromDer && fromDer.kind !== "private-key");
          assert.equal(computePin(fromDer.spki, sha256), s.pin);
        },
      ),
      { numRuns: 600 },
    );
  });

  it("ran at least 10,000 generated cases in total", () => {
    assert.ok(casesRun >= 10_000, `only ${casesRun} cases`);
  });
});

function pemOf(der: Uint8Array, label: string, width: number, eol: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return `-----BEGIN ${label}-----${eol}${lines.join(eol)}${eol}-----END ${label}-----${eol}`;
}
