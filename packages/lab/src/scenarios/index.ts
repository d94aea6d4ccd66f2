// The lab's scenarios, in order: a scenario's number is its place in this list. Adding one is a new file
// in this folder (see definition.ts) and one entry below.
import { appendedIntermediate } from "./appended-intermediate.js";
import { attackerCaNoPinning } from "./attacker-ca-no-pinning.js";
import { registerScenarios } from "./definition.js";
import { expiredPins } from "./expired-pins.js";
import { keyRotation } from "./key-rotation.js";
import { ordinaryHttps } from "./ordinary-https.js";
import { pinnedApp } from "./pinned-app.js";
import { pinningNoAttacker } from "./pinning-no-attacker.js";

export type { LabScenario, ScenarioContext } from "./definition.js";

/**
 * The lab's scenarios, in order, numbered from 1.
 *
 * @example
 * for (const scenario of labScenarios) console.log(scenario.id, scenario.title, scenario.expected);
 */
export const labScenarios = registerScenarios([
  ordinaryHttps,
  attackerCaNoPinning,
  pinnedApp,
  pinningNoAttacker,
  appendedIntermediate,
  keyRotation,
  expiredPins,
]);
