import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { mapCodePoint, mapHost } from "./map.js";
import { SOURCE } from "./mapping-data.js";

// The oracle: Unicode's IDNA mapping table as the tr46 package (the URL standard's reference implementation
// of UTS #46, a pinned devDependency) ships it. Entries: [codePoint | [first, last], status, mapping?].
const require = createRequire(import.meta.url);
const table = require("tr46/lib/mappingTable.json") as [number | [number, number], number, string?][];
const { STATUS_MAPPING } = require("tr46/lib/statusMapping.js") as { STATUS_MAPPING: Record<string, number> };
const tr46Version = (require("tr46/package.json") as { version: string }).version;

describe("the UTS #46 mapping table", () => {
  it("was generated from the tr46 version installed", () => {
    assert.equal(SOURCE, `tr46 ${tr46Version}`, "run node packages/core/scripts/generate-idna-table.mjs");
  });

  it("maps, ignores or keeps every code point from U+0000 to U+10FFFF exactly as Unicode's IDNA table says", () => {
    let checked = 0;
    let mismatches = 0;
    const firstMismatches: string[] = [];
    for (const [range, status, mapping] of table) {
      const [first, last] = Array.isArray(range) ? range : [range, range];
      // Nontransitional processing (the URL standard's): deviations are kept; disallowed code points are kept by
      // the mapping step (and reported by UTS #46 as errors later).
      const expected =
        status === STATUS_MAPPING["mapped"] ? mapping : status === STATUS_MAPPING["ignored"] ? "" : undefined;
      for (let cp = first; cp <= last; cp++) {
        checked++;
        const actual = mapCodePoint(cp);
        if (actual !== expected) {
          mismatches++;
          if (firstMismatches.length < 10)
            firstMismatches.push(
              `U+${cp.toString(16)}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`,
            );
        }
      }
    }
    assert.equal(checked, 0x110000, "the table covers every code point");
    assert.deepEqual(firstMismatches, []);
    assert.equal(mismatches, 0);
  });

  it("maps capital sigma to small sigma wherever it stands, and keeps final sigma, sharp s and the joiners", () => {
    assert.equal(mapCodePoint(0x3a3), "σ");
    assert.equal(mapHost("ΒΌΛΟΣ"), "βόλοσ", "String.prototype.toLowerCase would give the final form ς here");
    assert.equal(mapHost("βόλος"), "βόλος");
    assert.equal(mapHost("faß"), "faß");
    assert.equal(mapHost("a\u200cb\u200d"), "a\u200cb\u200d");
  });

  it("maps what JavaScript's lowercasing misses: Cherokee small letters to capitals, Greek symbol variants", () => {
    assert.equal(mapHost("\uab70"), "\u13a0", "CHEROKEE SMALL LETTER A maps to the capital");
    assert.equal(mapHost("\u03d0"), "β", "GREEK BETA SYMBOL");
    assert.equal(mapHost("\u1e9e"), "ß", "LATIN CAPITAL LETTER SHARP S maps to ß since Unicode 15.1");
  });

  it("drops ignored code points, maps the ideographic full stops to dots and composes to NFC", () => {
    assert.equal(mapHost("a\u00adb\u200bc\ufeff"), "abc");
    assert.equal(mapHost("a\u3002b\uff0ec\uff61"), "a.b.c.");
    assert.equal(mapHost("U\u0308"), "ü");
  });
});
