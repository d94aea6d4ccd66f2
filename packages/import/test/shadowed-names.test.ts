// A parameter, lambda parameter, loop variable or destructured name that is also a constant of the file: keypin
// does not follow scopes, so a use of that name is reported (with the line of the other binding), never read
// as the constant. lexical-cases.ts holds the files javac and kotlinc compile; these are the messages and costs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { importFile } from "@keypin/import";
import { kotlinCases, pinOf } from "./lexical-cases.js";

const P1 = pinOf(1);

test("Kotlin: the finding names the constant and the line of the parameter that may hide it", () => {
  const shadow = kotlinCases.find((c) => c.file === "Shadow.kt")!;
  const [source] = importFile(shadow.file, shadow.text).sources;
  assert.ok(
    source!.findings.some(
      (f) =>
        f.kind === "unreadable" &&
        f.place.line === 8 &&
        /PIN is also a parameter or local name \(line 8\)/.test(f.message),
    ),
    JSON.stringify(source!.findings.map((f) => f.message)),
  );
});

test("Kotlin: a destructured name hides a constant too; a qualified use (Pins.PIN) is still read", () => {
  const text = `import okhttp3.CertificatePinner
object Pins { const val PIN = "${P1}" }
val (PIN, other) = Pair("sha256/x", 1)
val a = CertificatePinner.Builder().add("api.example.com", PIN).build()
val b = CertificatePinner.Builder().add("cdn.example.com", Pins.PIN).build()
`;
  const [source] = importFile("Pair.kt", text).sources;
  assert.deepEqual(
    source!.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]),
    [["cdn.example.com", [P1]]],
  );
});

test("Kotlin: 50000 nested lambdas and 50000 parenthesized names are looked at once each", {
  timeout: 60_000,
}, () => {
  const n = 50_000;
  const text = `import okhttp3.CertificatePinner
const val PIN = "${P1}"
val f = listOf(1).map ${"{ a -> ".repeat(n)}1${" }".repeat(n)}
val g = listOf(1).map { ${"(".repeat(n)}a${")".repeat(n)} -> 1 }
val p = CertificatePinner.Builder().add("api.example.com", PIN).build()
`;
  const started = performance.now();
  const [source] = importFile("Deep.kt", text).sources;
  assert.ok(performance.now() - started < 10_000);
  assert.deepEqual(
    source!.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)]),
    [["api.example.com", [P1]]],
  );
});
