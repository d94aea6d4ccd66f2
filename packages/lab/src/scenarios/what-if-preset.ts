import type { PolicyFile } from "@keypin/core";
import type { LabObservation, LabStep } from "../events.js";
import { playWhatIf } from "../what-if/play.js";
import type { LabWhatIf } from "../what-if/what-if.js";
import {
  defineScenario,
  type ScenarioDefinition,
  type ScenarioObservation,
  type ScenarioRunContext,
} from "./definition.js";

/**
 * A preset that is one parameterised attempt: its scene and pin set are a {@link LabWhatIf}, and it runs through
 * `playWhatIf`, the function a custom `runLab({ whatIf })` run uses; only its words (who, the set-up step) are its own.
 *
 * @example
 * export const pinnedApp = defineWhatIfScenario({
 *   name: "pinned-app", title: "…", proves: "…", expected: "blocked", who: "The pinned app",
 *   whatIf: { attackerCaInstalled: true, viaProxy: true, pins: ["intermediate", "backup"], rotated: false, expired: false },
 *   setup: (ctx, policy) => ({ actor: "lab", step: "setup", text: "…", route: [], data: { policy } }),
 * });
 */
export function defineWhatIfScenario<const E extends LabObservation>(definition: {
  name: string;
  title: string;
  proves: ScenarioDefinition<E>["proves"];
  expected: E;
  whatIf: LabWhatIf;
  who: string;
  setup: (ctx: ScenarioRunContext, policy: PolicyFile | undefined) => LabStep;
}): ScenarioDefinition<E> {
  const { whatIf, who, setup } = definition;
  return defineScenario({
    name: definition.name,
    title: definition.title,
    proves: definition.proves,
    expected: definition.expected,
    whatIf,
    async run(ctx) {
      const result = await playWhatIf(ctx, whatIf, { who, setup: (policy) => setup(ctx, policy) });
      // A one-attempt preset observes one LabObservation, the shape of its string expectation.
      return result.observation as ScenarioObservation<E>;
    },
  });
}
