import { defineWhatIfScenario } from "./what-if-preset.js";

/** No attacker, no pin set: the cast works. */
export const ordinaryHttps = defineWhatIfScenario({
  name: "ordinary-https",
  title: "Ordinary HTTPS, no attacker",
  proves: "The cast works: a trusted CA vouches for the backend and the request goes through.",
  expected: "works",
  whatIf: { attackerCaInstalled: false, viaProxy: false, pins: [], rotated: false, expired: false },
  who: "The app",
  setup: () => ({
    actor: "lab",
    step: "setup",
    text: "No proxy on the path, no pin set: plain HTTPS as every app does it.",
    route: [],
    data: {},
  }),
});
