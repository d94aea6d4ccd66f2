import { pinsOf } from "./attempt.js";
import { shortPin } from "./narrate-attempt.js";
import { defineWhatIfScenario } from "./what-if-preset.js";

/** The same attack on an app that pins its keys: blocked during the handshake. */
export const pinnedApp = defineWhatIfScenario({
  name: "pinned-app",
  title: "Same attack, the app pins its keys",
  proves: "A pin set stops the attack during the handshake: the proxy gets no request byte and no token.",
  expected: "blocked",
  whatIf: {
    attackerCaInstalled: true,
    viaProxy: true,
    pins: ["intermediate", "backup"],
    rotated: false,
    expired: false,
  },
  who: "The pinned app",
  setup: (ctx, policy) => ({
    actor: "lab",
    step: "setup",
    text:
      `Same proxy, same installed CA; this time the app ships a pin set for ${ctx.cast.host}: ` +
      `${pinsOf(policy).map(shortPin).join(", ")} (the CA intermediate's key and a spare key).`,
    route: [],
    data: { policy },
  }),
});
