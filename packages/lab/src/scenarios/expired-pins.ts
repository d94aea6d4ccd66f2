import { pinExpiry } from "./narrate-attempt.js";
import { defineWhatIfScenario } from "./what-if-preset.js";

/** The pin set has expired: pinning is off, and the attack of the unpinned app works again. */
export const expiredPins = defineWhatIfScenario({
  name: "expired-pins",
  title: "The pin set has expired",
  proves: (numberOf) =>
    `Expiry fails open: after the date, pinning is off and the attack of scenario ${numberOf("attacker-ca-no-pinning")} works again.`,
  expected: "token-stolen",
  whatIf: {
    attackerCaInstalled: true,
    viaProxy: true,
    pins: ["intermediate", "backup"],
    rotated: false,
    expired: true,
  },
  who: "The app with an expired pin set",
  setup: (ctx, policy) => ({
    actor: "lab",
    step: "setup",
    text:
      `The app still ships the pin set of scenario ${ctx.numberOf("pinned-app")}, but with "expires": "${pinExpiry({ policy })}", a month ago. ` +
      "The network sends it through the proxy again.",
    route: [],
    data: { policy },
  }),
});
