import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { caFamilies, findRotatingFamily, parseDistinguishedName } from "./ca-families.js";

describe("CA families that rotate intermediates", () => {
  it("recognizes every Let's Encrypt intermediate of the 2024 hierarchy by name", () => {
    for (const cn of ["R10", "R11", "R12", "R13", "R14", "E5", "E6", "E7", "E8", "E9"]) {
      assert.equal(findRotatingFamily(`CN=${cn}, O=Let's Encrypt, C=US`)?.id, "letsencrypt", cn);
    }
  });

  it("does not take a look-alike name from another organization for Let's Encrypt", () => {
    assert.equal(findRotatingFamily("CN=R11, O=Evil Corp, C=US"), undefined);
    assert.equal(findRotatingFamily("CN=R15, O=Let's Encrypt, C=US"), undefined);
    assert.equal(findRotatingFamily("CN=ISRG Root X1, O=Internet Security Research Group"), undefined);
  });

  it("recognizes Google Trust Services, Amazon and Azure issuing CAs", () => {
    assert.equal(findRotatingFamily("CN=WR2, O=Google Trust Services, C=US")?.id, "google-trust-services");
    assert.equal(findRotatingFamily("CN=Amazon RSA 2048 M02, O=Amazon, C=US")?.id, "amazon");
    assert.equal(
      findRotatingFamily("CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US")?.id,
      "microsoft-azure",
    );
  });

  it("names its sources and roots for every family, and a well-formed date where it was checked", () => {
    for (const family of caFamilies) {
      assert.ok(
        family.sources.length > 0 && family.sources.every((s) => s.startsWith("https://")),
        family.id,
      );
      assert.ok(family.roots.length >= 2, `${family.id}: pin all roots of a family`);
      if (family.checked !== undefined) assert.match(family.checked, /^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it("splits distinguished names with escaped commas", () => {
    const dn = parseDistinguishedName("CN=Example\\, Inc. CA, O=Example\\, Inc., C=US");
    assert.equal(dn.get("CN"), "Example, Inc. CA");
    assert.equal(dn.get("O"), "Example, Inc.");
    assert.equal(dn.get("C"), "US");
  });
});
