import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom } from "@keypin/testkit";
import { medianInterval, pairedRatios, summarize } from "./stats.js";

describe("bench statistics", () => {
  it("summarizes a sample with interpolated quartiles", () => {
    assert.deepEqual(summarize([4, 1, 3, 2]), { rounds: 4, median: 2.5, min: 1, max: 4, q1: 1.75, q3: 3.25 });
    assert.equal(pairedRatios([2, 4], [1, 8]).median, 1.25);
  });

  it("gives a median interval that holds the true median about 95% of the time", () => {
    const next = seededRandom(7);
    for (const n of [20, 60]) {
      let covered = 0;
      const trials = 2000;
      for (let t = 0; t < trials; t++) {
        // Skewed samples whose true median is 1: exp(normal) has median exp(0).
        const sample = Array.from({ length: n }, () => {
          const u = 1 - next();
          const v = next();
          return Math.exp(0.2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
        });
        const { low, high } = medianInterval(sample);
        assert.ok(low <= high);
        if (low <= 1 && 1 <= high) covered++;
      }
      const rate = covered / trials;
      assert.ok(rate > 0.93 && rate < 0.995, `n=${n}: coverage ${rate}`);
    }
  });

  it("refuses too few values for an interval", () => {
    assert.throws(() => medianInterval([1, 2, 3]), /at least 6/);
  });
});
