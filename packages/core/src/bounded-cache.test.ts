import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BoundedCache } from "./bounded-cache.js";

describe("BoundedCache", () => {
  it("keeps at most `limit` entries, forgetting the oldest first", () => {
    const cache = new BoundedCache<number>(3);
    for (const [i, key] of ["a", "b", "c", "d"].entries()) cache.set(key, i);
    assert.equal(cache.size, 3);
    assert.equal(cache.get("a"), undefined);
    assert.deepEqual(
      ["b", "c", "d"].map((k) => cache.get(k)),
      [1, 2, 3],
    );
  });

  it("replaces a key already held without forgetting another", () => {
    const cache = new BoundedCache<string>(2);
    cache.set("a", "1");
    cache.set("b", "2");
    cache.set("a", "3");
    assert.equal(cache.size, 2);
    assert.deepEqual([cache.get("a"), cache.get("b")], ["3", "2"]);
  });

  it("stays bounded under many distinct keys", () => {
    const cache = new BoundedCache<number>(100);
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, i);
    assert.equal(cache.size, 100);
    assert.equal(cache.get("k9999"), 9999);
    assert.equal(cache.get("k9899"), undefined);
  });
});
