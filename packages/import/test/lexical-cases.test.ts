// The files of lexical-cases.ts (Unicode escapes in Java, templates in Kotlin, names a parameter or local hides)
// imported: each host gets exactly the pins the compiled program builds (interop/lexical-cases.test.ts checks
// those with javac, kotlinc and OkHttp), and a host keypin cannot read soundly is reported, not imported with
// another value's pins.
import assert from "node:assert/strict";
import { test } from "node:test";
import { importFile } from "@keypin/import";
import { javaCases, kotlinCases } from "./lexical-cases.js";

for (const c of [...javaCases, ...kotlinCases]) {
  test(`${c.file}: keypin imports the pins the compiled program builds${c.unreadable ? `, and reports ${c.unreadable.join(", ")} unreadable` : ""}`, () => {
    const [source] = importFile(c.file, c.text).sources;
    const readable = Object.entries(c.runtime).filter(([host]) => !c.unreadable?.includes(host));
    assert.deepEqual(
      Object.fromEntries(source!.domains.map((d) => [d.domain, d.pins.map((p) => p.pin)])),
      Object.fromEntries(readable),
      JSON.stringify(source!.findings.map((f) => f.message)),
    );
    const unreadable = source!.findings.filter((f) => f.kind === "unreadable");
    assert.ok(
      unreadable.length >= (c.unreadable?.length ?? 0),
      JSON.stringify(source!.findings.map((f) => f.message)),
    );
    if (c.unreadable === undefined) assert.deepEqual(unreadable, []);
  });
}
