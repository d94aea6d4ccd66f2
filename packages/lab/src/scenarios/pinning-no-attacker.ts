import { attempt, cleanDevice, pinnedPolicy } from "./common.js";
import { defineScenario } from "./definition.js";

/** The pinned app against the real server: pinning does not get in the way. */
export const pinningNoAttacker = defineScenario({
  name: "pinning-no-attacker",
  title: "Pinning, no attacker",
  proves: "Pinning does not get in the way of the real server.",
  expected: "works",
  async run(ctx) {
    cleanDevice(ctx);
    const policy = pinnedPolicy(ctx.cast);
    ctx.step({
      actor: "lab",
      step: "setup",
      text: "No proxy, the attacker's CA removed; the app keeps its pin set.",
      route: [],
      data: { policy },
    });
    return (await attempt(ctx, { who: "The pinned app", policy, viaProxy: false })).observation;
  },
});
