import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type LabPinChoice, type LabWhatIf, labPinChoices, predictWhatIf } from "@keypin/lab";
import { type LabCast, startCast } from "../src/cast.js";
import { playWhatIf } from "../src/what-if/play.js";

/** Every what-if: 2 × 2 × 2 × 2 scenes, each with every subset of the four keys pinned (in the lab's order). */
function everyWhatIf(): LabWhatIf[] {
  const subsets: LabPinChoice[][] = [];
  for (let mask = 0; mask < 1 << labPinChoices.length; mask++) {
    subsets.push(labPinChoices.filter((_, i) => mask & (1 << i)));
  }
  const out: LabWhatIf[] = [];
  for (const attackerCaInstalled of [false, true])
    for (const viaProxy of [false, true])
      for (const rotated of [false, true])
        for (const expired of [false, true])
          for (const pins of subsets) out.push({ attackerCaInstalled, viaProxy, pins, rotated, expired });
  return out;
}

describe("the what-if rule table", () => {
  it("never predicts a stolen token without the proxy and the installed CA, nor a working request through the proxy", () => {
    const all = everyWhatIf();
    assert.equal(all.length, 256);
    for (const w of all) {
      const { observation, rule } = predictWhatIf(w);
      const where = `${JSON.stringify(w)} → ${observation} (${rule})`;
      if (observation === "token-stolen") assert.ok(w.viaProxy && w.attackerCaInstalled, where);
      if (w.viaProxy) assert.notEqual(observation, "works", where);
      if (observation === "blocked") assert.ok(w.pins.length > 0 && !w.expired, where);
      if (w.viaProxy && !w.attackerCaInstalled) assert.match(observation, /^failed: /, where);
      if (!w.viaProxy) assert.ok(observation === "works" || observation === "blocked", where);
    }
  });

  describe("against real sockets, on one cast", () => {
    let cast: LabCast;
    before(async () => {
      cast = await startCast();
    });
    after(async () => {
      await cast.close();
    });

    // One pin subset per distinct verdict the keys can give (none, the served leaf's, the spare's, a CA's, both
    // leaf keys), in every scene: 16 scenes × 5 pin sets.
    const pinSets: LabPinChoice[][] = [[], ["leaf"], ["backup"], ["root"], ["leaf", "backup"]];
    const scenes = everyWhatIf().filter((w) => pinSets.some((set) => set.join() === w.pins.join()));

    it(`observes what the table predicts in all ${scenes.length} scenes, counters included`, async () => {
      assert.equal(scenes.length, 80);
      for (const w of scenes) {
        const prediction = predictWhatIf(w);
        const attempt = await playWhatIf({ cast, scenario: 0, step: () => {} }, w);
        const where = `${JSON.stringify(w)} (${prediction.rule})`;
        assert.equal(attempt.observation, prediction.observation, where);
        assert.equal(attempt.tokenLeaked, prediction.tokenLeaked, `${where}: token leaked`);
        assert.equal(attempt.backendHits, prediction.backendHits, `${where}: backend hits`);
        assert.equal(attempt.appBytes > 0, prediction.attackerReadsAppData, `${where}: attacker's bytes`);
        assert.equal(cast.backend.leaf, cast.leaf, `${where}: the backend's key is put back`);
      }
    });
  });
});
