import { attempt, cleanDevice, installAttackerCa } from "./common.js";
import { defineScenario } from "./definition.js";

/** The attacker's CA on the device, an app that does not pin: the proxy reads everything. */
export const attackerCaNoPinning = defineScenario({
  name: "attacker-ca-no-pinning",
  title: "Attacker's CA on the device, no pinning",
  proves: "Trusting the device's CAs is not enough: an installed CA lets a proxy read and relay everything.",
  expected: "token-stolen",
  async run(ctx) {
    cleanDevice(ctx);
    installAttackerCa(ctx);
    ctx.step({
      actor: "lab",
      step: "setup",
      text: "The network sends the app through the attacker's proxy. The app does not pin.",
      route: [],
      data: {},
    });
    return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: true })).observation;
  },
});
