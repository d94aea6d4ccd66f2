import { attempt, cleanDevice, installAttackerCa, isoDay, pinnedPolicy } from "./common.js";
import { defineScenario } from "./definition.js";
import { pinExpiry } from "./narrate-attempt.js";

/** The pin set has expired: pinning is off, and the attack of the unpinned app works again. */
export const expiredPins = defineScenario({
  name: "expired-pins",
  title: "The pin set has expired",
  proves: (numberOf) =>
    `Expiry fails open: after the date, pinning is off and the attack of scenario ${numberOf("attacker-ca-no-pinning")} works again.`,
  expected: "token-stolen",
  async run(ctx) {
    const { cast } = ctx;
    cleanDevice(ctx);
    installAttackerCa(ctx);
    const policy = pinnedPolicy(cast, { expires: isoDay(-30) });
    ctx.step({
      actor: "lab",
      step: "setup",
      text:
        `The app still ships the pin set of scenario ${ctx.numberOf("pinned-app")}, but with "expires": "${pinExpiry({ policy })}", a month ago. ` +
        "The network sends it through the proxy again.",
      route: [],
      data: { policy },
    });
    return (await attempt(ctx, { who: "The app with an expired pin set", policy, viaProxy: true }))
      .observation;
  },
});
