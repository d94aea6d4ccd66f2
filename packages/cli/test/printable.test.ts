// The CLI's printable() is a copy of @keypin/audit's (the audit package is too heavy to load at every start-up):
// both must escape exactly the same characters. terminalLine() keeps the CLI's own colors and nothing else.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { printable as auditPrintable } from "@keypin/audit";
import { oneLine } from "../src/errors.js";
import { printable, terminalLine } from "../src/lib/printable.js";

describe("printable and terminalLine", () => {
  it("escape exactly what @keypin/audit's printable escapes, for every BMP code point and an astral one", () => {
    for (let code = 0; code <= 0xffff; code++) {
      const text = `a${String.fromCharCode(code)}b`;
      assert.equal(printable(text), auditPrintable(text), `U+${code.toString(16)}`);
    }
    assert.equal(printable("🔑\u001b"), "🔑\\x1b");
  });

  it("terminalLine keeps color sequences and escapes every other control, so a line stays one line", () => {
    assert.equal(
      terminalLine("\u001b[32mok\u001b[39m \u001b[2K\u001b]0;t\u0007\r\n\u202e"),
      "\u001b[32mok\u001b[39m \\x1b[2K\\x1b]0;t\\x07\\x0d\\x0a\\u202e",
    );
  });

  it("oneLine joins lines and escapes what is left: a lone CR, ESC, BEL, NUL, C1, bidi controls", () => {
    assert.equal(oneLine(new Error("a\nb")), "a; b");
    assert.equal(
      oneLine(new Error("407 \u001b[2K\u0007\u0000x\ry\u009b\u2028z\u202e")),
      "407 \\x1b[2K\\x07\\x00x\\x0dy\\x9b\\u2028z\\u202e",
    );
  });
});
