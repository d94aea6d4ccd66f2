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

describe("BoundedCache with a byte budget", () => {
  const bytesOf = (value: string) => value.length;

  it("forgets the oldest entries until the bytes fit, however few entries that leaves", () => {
    const cache = new BoundedCache<string>(100, { maxBytes: 10, sizeOf: bytesOf });
    cache.set("a", "xxxx");
    cache.set("b", "xxxx");
    assert.deepEqual([cache.size, cache.bytes], [2, 8]);
    cache.set("c", "xxxxx"); // 13 > 10: "a" goes, 9 left
    assert.deepEqual([cache.get("a"), cache.get("b"), cache.get("c")], [undefined, "xxxx", "xxxxx"]);
    assert.deepEqual([cache.size, cache.bytes], [2, 9]);
    cache.set("d", "xxxxxxxxxx"); // exactly the budget: everything else goes
    assert.deepEqual([...cache.keys()], ["d"]);
    assert.equal(cache.bytes, 10);
  });

  it("does not store an entry larger than the whole budget, and drops the value it would replace", () => {
    const cache = new BoundedCache<string>(100, { maxBytes: 10, sizeOf: bytesOf });
    cache.set("a", "xx");
    cache.set("b", "xx");
    cache.set("big", "x".repeat(11));
    assert.equal(cache.get("big"), undefined);
    assert.deepEqual([...cache.keys()], ["a", "b"]); // nothing was evicted for it
    cache.set("a", "x".repeat(11));
    assert.equal(cache.get("a"), undefined, "a stale value must not survive a refused replacement");
    assert.deepEqual([cache.size, cache.bytes], [1, 2]);
  });

  it("keeps both bounds: the entry count still applies", () => {
    const cache = new BoundedCache<string>(2, { maxBytes: 1000, sizeOf: bytesOf });
    for (const key of ["a", "b", "c"]) cache.set(key, "x");
    assert.deepEqual([...cache.keys()], ["b", "c"]);
    assert.equal(cache.bytes, 2);
  });

  it("weighs a replaced key by its new value and makes it the newest", () => {
    const cache = new BoundedCache<string>(100, { maxBytes: 10, sizeOf: bytesOf });
    cache.set("a", "xxx");
    cache.set("b", "xxx");
    cache.set("a", "xxxxxx"); // 3 + 6: fits, "a" is now newest
    assert.deepEqual([[...cache.keys()], cache.bytes], [["b", "a"], 9]);
    cache.set("c", "xx"); // 11 > 10: the oldest, "b", goes (not the "a" just written)
    assert.deepEqual([[...cache.keys()], cache.bytes], [["a", "c"], 8]);
  });

  it("passes the key to sizeOf, so a long key counts", () => {
    const cache = new BoundedCache<number>(100, { maxBytes: 100, sizeOf: (_v, key) => 2 * key.length + 8 });
    cache.set("k".repeat(50), 1); // 108 bytes: more than the budget
    assert.equal(cache.size, 0);
    cache.set("k".repeat(10), 1);
    assert.equal(cache.bytes, 28);
  });

  it("never stores what a NaN or negative weight would hide", () => {
    const cache = new BoundedCache<string>(10, {
      maxBytes: 10,
      sizeOf: (v) => (v === "nan" ? Number.NaN : -1),
    });
    cache.set("a", "nan");
    cache.set("b", "neg");
    assert.deepEqual([cache.size, cache.bytes], [0, 0]);
  });

  it("stays within its budget under many entries of random sizes", () => {
    const cache = new BoundedCache<string>(1000, { maxBytes: 5000, sizeOf: bytesOf });
    let seed = 7;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      cache.set(`k${i % 3000}`, "x".repeat(seed % 700));
      assert.ok(cache.bytes <= 5000 && cache.size <= 1000);
    }
    let sum = 0;
    for (const key of cache.keys()) sum += cache.get(key)!.length;
    assert.equal(sum, cache.bytes, "the running total is the sum of the entries held");
  });

  it("refuses a budget that is not a positive number, or one without sizeOf", () => {
    assert.throws(() => new BoundedCache<string>(10, { maxBytes: 0, sizeOf: bytesOf }), RangeError);
    assert.throws(() => new BoundedCache<string>(10, { maxBytes: Number.NaN, sizeOf: bytesOf }), RangeError);
    assert.throws(
      () =>
        new BoundedCache<string>(10, { maxBytes: 10 } as unknown as {
          maxBytes: number;
          sizeOf: typeof bytesOf;
        }),
      TypeError,
    );
  });

  it("reports no bytes and an infinite budget without one", () => {
    const cache = new BoundedCache<string>(3);
    cache.set("a", "xxxx");
    assert.deepEqual([cache.bytes, cache.maxBytes], [0, Number.POSITIVE_INFINITY]);
  });
});
