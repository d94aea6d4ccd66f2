// Java translates \uXXXX escapes before it lexes anything (JLS 3.3), so an escape can end a comment or a line:
// the import reads the file javac compiles, not the text as an editor shows it. The pins expected here are the
// ones javac with OkHttp builds: lexical-cases.test.ts reads the cases of lexical-cases.ts, which
// interop/lexical-cases.test.ts compiles; these are the rest.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ImportError, type ImportedSource, importFile } from "@keypin/import";
import { javaCases, pinOf } from "./lexical-cases.js";

const P1 = pinOf(1);

const java = (name: string, text: string): ImportedSource => {
  const [source] = importFile(name, text).sources;
  return source!;
};
const pins = (s: ImportedSource) => s.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]);

test("Java: places are lines of the file as written: a \\u000a does not shift them", () => {
  const s = java("PinningConfig.java", javaCases[0]!.text);
  assert.equal(s.domains[1]!.domain, "login.example.com");
  assert.equal(s.domains[1]!.place.line, 9);
  assert.equal(s.domains[1]!.pins[0]!.place.line, 9);
});

test("Java: a \\u without four hex digits is refused, in a comment too, as javac refuses it; so is a \\u left by a translated backslash", () => {
  const refused = (text: string, message: RegExp) =>
    assert.throws(
      () => importFile("Bad.java", text),
      (e: unknown) => e instanceof ImportError && e.code === "ERR_KEYPIN_IMPORT" && message.test(e.message),
    );
  refused(
    'class A {\n  // C:\\users\\me\n  String s = "x";\n}\n',
    /^Bad\.java:2: .*"\\\\users" is not a Unicode escape/,
  );
  refused('class A {\n  String s = "\\u005cu0041";\n}\n', /^Bad\.java:2: .*escape \\u, which javac refuses/);
});

test("Java: octal escapes take at most three digits and at most \\377 (\\477 is \\47 then 7)", () => {
  const s = java(
    "Octal.java",
    `class O { static final okhttp3.CertificatePinner P = new okhttp3.CertificatePinner.Builder().add("api.example.com\\477", "${P1}").build(); }`,
  );
  assert.deepEqual(pins(s), []);
  assert.ok(
    s.findings.some((f) => f.message.includes('"api.example.com\'7"')),
    JSON.stringify(s.findings),
  );
});

test("Java: a syntax error after a \\u000a is placed on the line of the file as written", () => {
  assert.throws(
    () => importFile("Line.java", "class A { // \\u000a int x = ; }\nclass B {}\n"),
    (e: unknown) => e instanceof ImportError && /^Line\.java:1: not readable as Java/.test(e.message),
  );
});
