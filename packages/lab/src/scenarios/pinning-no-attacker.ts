import { defineWhatIfScenario } from "./what-if-preset.js";

/** The pinned app against the real server: pinning does not get in the way. */
export const pinningNoAttacker = defineWhatIfScenario({
  name: "pinning-no-attacker",
  title: "Pinning, no attacker",
  proves: "Pinning does not get in the way of the real server.",
  expected: "works",
  whatIf: {
    attackerCaInstalled: false,
    viaProxy: false,
    pins: ["intermediate", "backup"],
    rotated: false,
    expired: false,
  },
  who: "The pinned app",
  setup: (_ctx, policy) => ({
    actor: "lab",
    step: "setup",
    text: "No proxy, the attacker's CA removed; the app keeps its pin set.",
    route: [],
    data: { policy },
  }),
});
