// Small hostile files: the work of an import stays proportional to the file, and what is refused is refused
// with an ImportError (ERR_KEYPIN_IMPORT) or reported as unreadable, never a hang or a RangeError.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ImportError, type ImportedSource, importFile } from "@keypin/import";

// Each test finishes in well under a second; the timeout only stops a regression from hanging the run.
const guard = { timeout: 60_000 };
const P1 = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;

/**
 * A binary plist from raw objects (bplist00: objects, an offset table of 4-byte offsets, the 32-byte trailer
 * with 2-byte references), so that references can share, nest and cycle as no writer would make them.
 */
function bplist(objects: Uint8Array[], top = 0): Uint8Array {
  const parts: Buffer[] = [Buffer.from("bplist00")];
  const offsets: number[] = [];
  let at = 8;
  for (const o of objects) {
    offsets.push(at);
    parts.push(Buffer.from(o));
    at += o.length;
  }
  const table = Buffer.alloc(4 * offsets.length);
  offsets.forEach((o, i) => {
    table.writeUInt32BE(o, 4 * i);
  });
  const trailer = Buffer.alloc(32);
  trailer[6] = 4;
  trailer[7] = 2;
  trailer.writeBigUInt64BE(BigInt(objects.length), 8);
  trailer.writeBigUInt64BE(BigInt(top), 16);
  trailer.writeBigUInt64BE(BigInt(at), 24);
  return new Uint8Array(Buffer.concat([...parts, table, trailer]));
}
const refs = (rs: number[]) => rs.flatMap((r) => [r >> 8, r & 0xff]);
/** An array (0xA) or dict (0xD) marker with its count (inline below 15, else an integer object). */
const marker = (type: number, n: number) =>
  n < 15 ? [(type << 4) | n] : [(type << 4) | 0xf, 0x11, n >> 8, n & 0xff];
const array = (rs: number[]) => new Uint8Array([...marker(0xa, rs.length), ...refs(rs)]);
const dict = (keys: number[], values: number[]) =>
  new Uint8Array([...marker(0xd, keys.length), ...refs(keys), ...refs(values)]);
const ascii = (s: string) => new Uint8Array([...marker(0x5, s.length), ...Buffer.from(s, "latin1")]);

const importError = (file: string, content: Uint8Array | string, message: RegExp) =>
  assert.throws(
    () => importFile(file, content),
    (e: unknown) => e instanceof ImportError && e.code === "ERR_KEYPIN_IMPORT" && message.test(e.message),
  );
const messages = (sources: ImportedSource[]) => sources.flatMap((s) => s.findings.map((f) => f.message));

test(
  "refuses a binary plist whose arrays each hold the next one twice (2^22 values from 200 bytes)",
  guard,
  () => {
    const n = 22;
    const objects = [...Array.from({ length: n }, (_, i) => array([i + 1, i + 1])), ascii("")];
    const bytes = bplist(objects);
    assert.ok(bytes.length < 250);
    importError(
      "Info.plist",
      bytes,
      /^Info\.plist: not a readable binary plist: its objects refer to each other so that they expand to more than \d+ values/,
    );
  },
);

test("refuses a binary plist array or dict that contains itself", guard, () => {
  importError("Info.plist", bplist([array([0])]), /not a readable binary plist: object 0 contains itself/);
  importError(
    "Info.plist",
    bplist([dict([1], [0]), ascii("NSAppTransportSecurity")]),
    /^Info\.plist \(\/NSAppTransportSecurity\): not a readable binary plist: object 0 contains itself/,
  );
});

test("refuses a binary plist nested thousands of levels deep", guard, () => {
  const n = 5000;
  const objects = [...Array.from({ length: n }, (_, i) => array([i + 1])), ascii("")];
  importError(
    "Info.plist",
    bplist(objects),
    /not a readable binary plist: it nests more than 256 levels deep/,
  );
});

test(
  "reads a handmade binary plist's pinned domain, and refuses one that names a pinned host twice, as in XML",
  guard,
  () => {
    // 0 top {NSAppTransportSecurity: 2}, 2 {NSPinnedDomains: 4}, 4 {a.com: 6} or {a.com: 6, a.com: 6},
    // 6 {NSPinnedLeafIdentities: 8}, 8 [10], 10 {SPKI-SHA256-BASE64: 12}
    const objects = (pinned: Uint8Array) => [
      dict([1], [2]),
      ascii("NSAppTransportSecurity"),
      dict([3], [4]),
      ascii("NSPinnedDomains"),
      pinned,
      ascii("a.com"),
      dict([7], [8]),
      ascii("NSPinnedLeafIdentities"),
      array([10]),
      ascii("SPKI-SHA256-BASE64"),
      dict([9], [11]),
      ascii(P1.slice(7)),
    ];
    const [ats] = importFile("Info.plist", bplist(objects(dict([5], [6])))).sources;
    assert.deepEqual(
      ats!.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]),
      [["a.com", [P1]]],
    );
    importError("Info.plist", bplist(objects(dict([5, 5], [6, 6]))), /names the key "a\.com" twice/);
  },
);

/** Kotlin or Java constants that each double the one before: 2^n characters from n lines. */
function doubling(n: number, language: "kotlin" | "java"): string {
  const lines = Array.from({ length: n }, (_, i) =>
    language === "kotlin"
      ? `const val A${i + 1} = A${i} + A${i}`
      : `static final String A${i + 1} = A${i} + A${i};`,
  );
  return language === "kotlin"
    ? `const val A0 = "s"\n${lines.join("\n")}\nval p = CertificatePinner.Builder().add("a.com", A${n}).build()\n`
    : `class P {\nstatic final String A0 = "s";\n${lines.join("\n")}\nCertificatePinner p = new CertificatePinner.Builder().add("a.com", A${n}).build();\n}\n`;
}

test(
  "OkHttp Kotlin and Java: constants that double each other are evaluated once and capped, reported unreadable",
  guard,
  () => {
    for (const [file, language] of [
      ["Pinning.kt", "kotlin"],
      ["Pinning.java", "java"],
    ] as const) {
      const found = messages(importFile(file, doubling(22, language)).sources);
      assert.equal(found.length, 1, file);
      assert.match(
        found[0]!,
        /^a pin for "a\.com" cannot be read statically \(A16 \+ A16 is longer than 65536 characters, which no pin or host is\)/,
      );
    }
  },
);

test("OkHttp Kotlin: 64000 nested parentheses (128 KB) around a pin are read in one pass", guard, () => {
  const n = 64_000;
  const text = `val p = CertificatePinner.Builder().add("a.com", ${"(".repeat(n)}"sha256/x"${")".repeat(n)}).build()\n`;
  assert.deepEqual(messages(importFile("Pinning.kt", text).sources), [
    '"sha256/x" is not a SHA-256 pin (sha256/ + base64 of 32 bytes); not imported for "a.com"',
  ]);
});

test(
  "OkHttp Kotlin: arrays that spread each other twice stop at 65536 items, reported unreadable",
  guard,
  () => {
    const n = 20;
    const lines = Array.from({ length: n }, (_, i) => `val A${i + 1} = arrayOf(*A${i}, *A${i})`);
    const text = `val A0 = arrayOf("s")\n${lines.join("\n")}\nval p = CertificatePinner.Builder().add("a.com", *A${n}).build()\n`;
    const [found] = messages(importFile("Pinning.kt", text).sources);
    assert.match(
      found!,
      /^a pin for "a\.com" cannot be read statically \(.*A16.* has more than 65536 items\)/,
    );
  },
);

test(
  "OkHttp Kotlin: a chain of 20000 constants stops at the nesting limit, reported unreadable",
  guard,
  () => {
    const n = 20_000;
    const lines = Array.from({ length: n }, (_, i) => `const val A${i + 1} = A${i}`);
    const text = `const val A0 = "s"\n${lines.join("\n")}\nval p = CertificatePinner.Builder().add("a.com", A${n}).build()\n`;
    const [found] = messages(importFile("Pinning.kt", text).sources);
    assert.match(
      found!,
      /cannot be read statically \(it nests more than 200 expressions or constants deep\)/,
    );
  },
);

test(
  "OkHttp Kotlin: a long constant built into thousands of pins runs out of evaluation steps",
  guard,
  () => {
    const text = `const val A = "${"x".repeat(60_000)}"\nval p = CertificatePinner.Builder()${'\n  .add("a.com", A + "y")'.repeat(3000)}\n  .build()\n`;
    importError(
      "Pinning.kt",
      text,
      /^Pinning\.kt: its constants and expressions take more than \d+ steps to evaluate/,
    );
  },
);

test(
  "React Native: doubling constants, doubling spreads and constant chains are bounded, reported unreadable",
  guard,
  () => {
    const call = (hashes: string) =>
      `initializeSslPinning({ "a.com": { includeSubdomains: true, publicKeyHashes: ${hashes} } });\n`;
    const sum = Array.from({ length: 24 }, (_, i) => `const A${i + 1} = A${i} + A${i};`);
    assert.match(
      messages(importFile("pins.js", `const A0 = "s";\n${sum.join("\n")}\n${call("[A24]")}`).sources)[0]!,
      /a hash for a\.com cannot be read statically \(a sum longer than 65536 characters, which no pin or host is\)/,
    );
    const spread = Array.from({ length: 20 }, (_, i) => `const A${i + 1} = [...A${i}, ...A${i}];`);
    assert.match(
      messages(importFile("pins.js", `const A0 = ["s"];\n${spread.join("\n")}\n${call("A20")}`).sources)[0]!,
      /publicKeyHashes cannot be read statically \(an array with more than 65536 items\)/,
    );
    const chain = Array.from({ length: 20_000 }, (_, i) => `const A${i + 1} = A${i};`);
    assert.match(
      messages(
        importFile("pins.js", `const A0 = "s";\n${chain.join("\n")}\n${call("[A20000]")}`).sources,
      )[0]!,
      /cannot be read statically \(it nests more than 200 expressions or constants deep\)/,
    );
    const wide = `const A = "${"x".repeat(60_000)}";\n${call('[A + "y"]').repeat(3000)}`;
    importError(
      "pins.js",
      wide,
      /^pins\.js: its constants and expressions take more than \d+ steps to evaluate/,
    );
  },
);

test(
  "a binary plist with a 2-million-character key at each of 250 levels is placed by a short key path (a cycle at the bottom too)",
  guard,
  () => {
    // Object 0 is the key; objects 1 to 250 are dicts {key: next}; the last is a string, or a dict back to 1.
    const objects = (bottom: Uint8Array) => [
      ascii("K".repeat(2_200_000)),
      ...Array.from({ length: 250 }, (_, i) => dict([0], [i + 2])),
      bottom,
    ];
    const check = (bytes: Uint8Array, message: RegExp) =>
      assert.throws(
        () => importFile("Info.plist", bytes),
        (e: unknown) =>
          e instanceof ImportError &&
          e.message.length < 700 &&
          !/\n/.test(e.message) &&
          message.test(e.message),
      );
    check(bplist(objects(ascii("end")), 1), /^Info\.plist \(\/\): this plist has neither/);
    check(
      bplist(objects(dict([0], [1])), 1),
      /^Info\.plist \(\/K{59}…\/K{59}…\/.*\/…\): not a readable binary plist: object 1 contains itself$/,
    );
  },
);

test(
  "a reader that fails unexpectedly ends in an ImportError of one short line, not an escaping error",
  guard,
  () => {
    // No reader is known to fail so now; a content whose bytes throw a RangeError with a long, multi-line message
    // when read stands for one that does.
    const hostile = new Proxy(new Uint8Array(64), {
      get(target, key, receiver) {
        if (key === "subarray") throw new RangeError(`Invalid string length\n${"x".repeat(10_000)}`);
        return Reflect.get(target, key, receiver);
      },
    });
    assert.throws(
      () => importFile("Info.plist", hostile),
      (e: unknown) =>
        e instanceof ImportError &&
        e.code === "ERR_KEYPIN_IMPORT" &&
        e.message.length < 200 &&
        /^Info\.plist: keypin failed to read this file \("RangeError: Invalid string length x+…"\)/.test(
          e.message,
        ),
    );
  },
);
