import { attempt, cleanDevice } from "./common.js";
import { defineScenario } from "./definition.js";

/** No attacker, no pin set: the cast works. */
export const ordinaryHttps = defineScenario({
  name: "ordinary-https",
  title: "Ordinary HTTPS, no attacker",
  proves: "The cast works: a trusted CA vouches for the backend and the request goes through.",
  expected: "works",
  async run(ctx) {
    cleanDevice(ctx);
    ctx.step({
      actor: "lab",
      step: "setup",
      text: "No proxy on the path, no pin set: plain HTTPS as every app does it.",
      route: [],
      data: {},
    });
    return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: false })).observation;
  },
});
