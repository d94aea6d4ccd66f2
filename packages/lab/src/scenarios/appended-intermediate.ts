import { attempt, cleanDevice, installAttackerCa, pinnedPolicy } from "./common.js";
import { defineScenario } from "./definition.js";

/** The proxy appends the genuine pinned intermediate to its forged chain (CVE-2016-2402): still blocked. */
export const appendedIntermediate = defineScenario({
  name: "appended-intermediate",
  title: "Attacker appends the genuine pinned intermediate",
  proves:
    "Only the signature-verified path counts: a pinned certificate merely sent along (CVE-2016-2402) is ignored.",
  expected: "blocked",
  /**
   * Not a what-if: its scene is scenario 3's (`pinnedApp.whatIf`) plus what the proxy sends, the genuine
   * intermediate appended after its forged leaf, and the proxy's chain is no what-if setting.
   */
  whatIf: null,
  async run(ctx) {
    const { cast } = ctx;
    cleanDevice(ctx);
    installAttackerCa(ctx);
    cast.proxy.appendToChain = [cast.intermediate];
    try {
      const policy = pinnedPolicy(cast);
      ctx.step({
        actor: "lab",
        step: "setup",
        text:
          `A smarter attacker: the proxy appends the genuine ${cast.intermediate.subject} (public, any client ` +
          "sees it) after its forged leaf, so the pinned key is in what the app receives.",
        route: [],
        data: { appended: cast.intermediate.subject, pin: cast.pins.intermediate, policy },
      });
      const result = await attempt(ctx, { who: "The pinned app", policy, viaProxy: true });
      ctx.step({
        actor: "lab",
        step: "decision",
        text:
          `Still blocked. The pinned intermediate was sent, but it did not sign the forged leaf: the only path ` +
          `whose signatures verify runs from the forged leaf to ${cast.attackerCa.subject}. keypin compares pins ` +
          "with that verified path only, never with whatever else the server sends (the bug of OkHttp before 3.1.2).",
        route: [],
        data: {},
      });
      return result.observation;
    } finally {
      cast.proxy.appendToChain = [];
    }
  },
});
