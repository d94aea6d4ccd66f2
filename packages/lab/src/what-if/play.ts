// The parameterised run: one attempt of the app in a scene a LabWhatIf describes. The one-attempt presets and
// a custom what-if run both go through playWhatIf; the key rotation preset sets its scene with setScene and plays
// its two apps with attemptWhatIf.
import type { PolicyFile } from "@keypin/core";
import type { LabCast } from "../cast.js";
import type { LabStep } from "../events.js";
import type { Attempt } from "../scenarios/attempt.js";
import { attempt, cleanDevice, installAttackerCa, isoDay } from "../scenarios/common.js";
import type { ScenarioContext } from "../scenarios/definition.js";
import { pinExpiry, shortPin } from "../scenarios/narrate-attempt.js";
import type { LabPinChoice, LabWhatIf } from "./what-if.js";

function commonName(subject: string): string {
  return /^CN=([^,]+)/.exec(subject)?.[1] ?? subject;
}

/**
 * The app's pin set for a what-if: the chosen keys of the cast, in the order chosen, with their role and a
 * label, and `expires` a month ago when `expired`; `undefined` when no key is pinned (the app does not pin).
 *
 * @example
 * whatIfPolicy(cast, { pins: ["intermediate", "backup"], expired: false }); // the pinned app's pin set
 */
export function whatIfPolicy(cast: LabCast, w: Pick<LabWhatIf, "pins" | "expired">): PolicyFile | undefined {
  if (w.pins.length === 0) return undefined;
  const entry = (choice: LabPinChoice) => {
    switch (choice) {
      case "leaf":
        return { pin: cast.pins.leaf, role: "leaf" as const, label: "current key" };
      case "intermediate":
        return {
          pin: cast.pins.intermediate,
          role: "intermediate" as const,
          label: `${commonName(cast.intermediate.subject)} (our CA's intermediate)`,
        };
      case "root":
        return {
          pin: cast.pins.root,
          role: "root" as const,
          label: `${commonName(cast.root.subject)} (our CA's root)`,
        };
      case "backup":
        return { pin: cast.pins.backup, role: "backup" as const, label: "spare key, kept offline" };
      default: {
        const unreachable: never = choice;
        throw new Error(`unknown pin choice ${JSON.stringify(unreachable)}`);
      }
    }
  };
  return {
    domains: {
      [cast.host]: { pins: w.pins.map(entry), ...(w.expired ? { expires: isoDay(-30) } : {}) },
    },
  };
}

/**
 * Sets the scene of a what-if and says so: the device's store (the attacker's CA installed or not) and the
 * backend's key (rotated to the spare key or not). Returns the function that puts the backend back.
 *
 * @example
 * const restore = setScene(ctx, whatIf);
 * try { await attemptWhatIf(ctx, whatIf, "The app"); } finally { restore(); }
 */
export function setScene(
  ctx: ScenarioContext,
  w: Pick<LabWhatIf, "attackerCaInstalled" | "rotated">,
): () => void {
  const { cast } = ctx;
  cleanDevice(ctx);
  if (w.attackerCaInstalled) installAttackerCa(ctx);
  if (!w.rotated) return () => {};
  cast.backend.rotate(cast.rotatedLeaf);
  ctx.step({
    actor: "backend",
    step: "setup",
    text:
      `${cast.host} rotates its key: it now serves a certificate for the spare key ${shortPin(cast.pins.backup)} ` +
      `(same CA). The old leaf key ${shortPin(cast.pins.leaf)} is gone.`,
    route: [],
    data: { oldPin: cast.pins.leaf, newPin: cast.pins.backup },
  });
  return () => cast.backend.rotate(cast.leaf);
}

/**
 * One attempt of the app of a what-if (its pin set, through the proxy or not) in the scene already set.
 *
 * @example
 * const a = await attemptWhatIf(ctx, { viaProxy: false, pins: ["leaf", "backup"], expired: false }, "The app with a backup pin");
 */
export function attemptWhatIf(
  ctx: ScenarioContext,
  w: Pick<LabWhatIf, "viaProxy" | "pins" | "expired">,
  who: string,
): Promise<Attempt> {
  return attempt(ctx, { who, policy: whatIfPolicy(ctx.cast, w), viaProxy: w.viaProxy });
}

/** How a run of {@link playWhatIf} is told: who the app is, and the set-up step (a preset's own words). */
export interface WhatIfNarration {
  who?: string;
  /** The `setup` step after the scene is set; default: {@link describeSetup}. */
  setup?: (policy: PolicyFile | undefined) => LabStep;
}

/**
 * The default `setup` step of a what-if: the network's route and the app's pin set.
 *
 * @example
 * ctx.step(describeSetup(cast, whatIf, whatIfPolicy(cast, whatIf)));
 */
export function describeSetup(cast: LabCast, w: LabWhatIf, policy: PolicyFile | undefined): LabStep {
  const route = w.viaProxy
    ? "The network sends the app through the attacker's proxy."
    : "No proxy on the path: the app reaches the backend itself.";
  const pins = policy
    ? ` The app pins ${w.pins.join(", ")} (${w.pins.map((choice) => shortPin(cast.pins[choice])).join(", ")})` +
      (w.expired ? `, in a pin set that expired on ${pinExpiry({ policy })}.` : ".")
    : " The app does not pin.";
  return {
    actor: "lab",
    step: "setup",
    text: route + pins,
    route: [],
    data: { whatIf: { ...w }, ...(policy ? { policy } : {}) },
  };
}

/**
 * Plays a what-if: sets the scene, tells the set-up, runs the app's one attempt, and puts the backend back.
 *
 * @example
 * const result = await playWhatIf(ctx, { attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false });
 * result.observation; // "blocked"
 */
export async function playWhatIf(
  ctx: ScenarioContext,
  w: LabWhatIf,
  narration: WhatIfNarration = {},
): Promise<Attempt> {
  const restore = setScene(ctx, w);
  try {
    const policy = whatIfPolicy(ctx.cast, w);
    ctx.step(narration.setup ? narration.setup(policy) : describeSetup(ctx.cast, w, policy));
    const who = narration.who ?? (policy ? "The pinned app" : "The app");
    return await attempt(ctx, { who, policy, viaProxy: w.viaProxy });
  } finally {
    restore();
  }
}
