import { pinsOf } from "./attempt.js";
import { attempt, cleanDevice, installAttackerCa, pinnedPolicy } from "./common.js";
import { defineScenario } from "./definition.js";
import { shortPin } from "./narrate-attempt.js";

/** The same attack on an app that pins its keys: blocked during the handshake. */
export const pinnedApp = defineScenario({
  name: "pinned-app",
  title: "Same attack, the app pins its keys",
  proves: "A pin set stops the attack during the handshake: the proxy gets no request byte and no token.",
  expected: "blocked",
  async run(ctx) {
    cleanDevice(ctx);
    installAttackerCa(ctx);
    const policy = pinnedPolicy(ctx.cast);
    ctx.step({
      actor: "lab",
      step: "setup",
      text:
        `Same proxy, same installed CA; this time the app ships a pin set for ${ctx.cast.host}: ` +
        `${pinsOf(policy).map(shortPin).join(", ")} (the CA intermediate's key and a spare key).`,
      route: [],
      data: { policy },
    });
    return (await attempt(ctx, { who: "The pinned app", policy, viaProxy: true })).observation;
  },
});
