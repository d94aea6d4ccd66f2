import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createChain } from "@keypin/testkit";
import { describeCertificate } from "./parsed-certificate.js";
import { HopCache } from "./verified-path.js";

describe("the hop cache", () => {
  it("keeps one verdict per (child, issuer) pair, verifies each pair once, and forgets the oldest past its limit", async () => {
    const chain = await createChain("p256", ["hop.keypin.test"]);
    const [leaf, intermediate, root] = [chain.leaf, chain.intermediate, chain.root].map((c) =>
      describeCertificate(c.der),
    ) as [
      ReturnType<typeof describeCertificate>,
      ReturnType<typeof describeCertificate>,
      ReturnType<typeof describeCertificate>,
    ];
    const cache = new HopCache(2);
    assert.equal(cache.verify(leaf, intermediate), true);
    assert.equal(cache.verify(intermediate, root), true);
    assert.equal(cache.cached(leaf, intermediate), true);
    assert.equal(cache.cached(leaf, root), undefined, "another issuer for the same child is not answered");
    assert.equal(cache.verify(leaf, root), false, "the root did not sign the leaf");
    assert.equal(cache.verifications, 3);
    assert.equal(cache.size, 2, "the limit holds");
    assert.equal(cache.cached(leaf, intermediate), undefined, "the oldest child was forgotten");
    assert.equal(cache.cached(intermediate, root), true);
    assert.equal(cache.cached(leaf, root), false);
    assert.equal(cache.hits, 3);
    cache.verify(intermediate, root);
    assert.equal(cache.size, 2, "verifying a known pair again adds nothing");
  });
});
