import { defineWhatIfScenario } from "./what-if-preset.js";

/** The attacker's CA on the device, an app that does not pin: the proxy reads everything. */
export const attackerCaNoPinning = defineWhatIfScenario({
  name: "attacker-ca-no-pinning",
  title: "Attacker's CA on the device, no pinning",
  proves: "Trusting the device's CAs is not enough: an installed CA lets a proxy read and relay everything.",
  expected: "token-stolen",
  whatIf: { attackerCaInstalled: true, viaProxy: true, pins: [], rotated: false, expired: false },
  who: "The app",
  setup: () => ({
    actor: "lab",
    step: "setup",
    text: "The network sends the app through the attacker's proxy. The app does not pin.",
    route: [],
    data: {},
  }),
});
