// Kotlin templates are lexed by the file's own rules (lexical-cases.ts holds the files kotlinc compiles);
// these are the files it refuses: a template that never closes, and templates nested past the limit, which
// stop with an ImportError instead of overflowing the stack.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ImportError, importFile } from "@keypin/import";

const refused = (text: string, message: RegExp) =>
  assert.throws(
    () => importFile("Pinning.kt", text),
    (e: unknown) => e instanceof ImportError && e.code === "ERR_KEYPIN_IMPORT" && message.test(e.message),
  );

test("Kotlin: a ${ whose string or character inside never closes is refused with the line of the string", () => {
  refused('val a = 1\nval q = "${\'"\'"\n', /^Pinning\.kt:2: not readable as Kotlin: an unterminated/);
  refused('val a = 1\nval q = "${"\\""\n', /^Pinning\.kt:2: not readable as Kotlin: an unterminated/);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Kotlin source
  refused("val q = \"${'\\q'}\"\n", /^Pinning\.kt:1: not readable as Kotlin: a bad character literal/);
});

test("Kotlin: templates nested 100000 deep are refused at the nesting limit, not a stack overflow", {
  timeout: 60_000,
}, () => {
  const n = 100_000;
  refused(`val q = ${'"${'.repeat(n)}${'}"'.repeat(n)}\n`, /templates nested more than 200 deep/);
});
