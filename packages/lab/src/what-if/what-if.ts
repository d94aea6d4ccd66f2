import { KeypinError } from "@keypin/core";
import type { LabResult } from "../events.js";
import { predictWhatIf } from "./predict.js";

/**
 * A key of the lab the app can pin (its pin is in `cast.pins`): the backend's current key (`leaf`), the lab
 * public CA's intermediate and root keys, and the backend's spare key (`backup`, on no certificate until the
 * backend rotates to it).
 *
 * @example
 * const pins: LabPinChoice[] = ["intermediate", "backup"];
 */
export type LabPinChoice = "leaf" | "intermediate" | "root" | "backup";

/** Every {@link LabPinChoice}, in the order the lab lists them. */
export const labPinChoices: readonly LabPinChoice[] = ["leaf", "intermediate", "root", "backup"];

/**
 * One parameterised attempt of the lab: the scene (device store, network, backend) and the app's pin set.
 * The presets that are one attempt are such values (`LabScenario.whatIf`); `runLab({ whatIf })` runs any other.
 *
 * @example
 * const pinRoot: LabWhatIf = { attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false };
 * await runLab({ whatIf: pinRoot }); // the outcome: blocked
 */
export interface LabWhatIf {
  /** The attacker's CA is in the device's trust store. */
  attackerCaInstalled: boolean;
  /** The network routes the app through the attacker's proxy. */
  viaProxy: boolean;
  /** The app's pin set, in this order; `[]`: the app does not pin. */
  pins: LabPinChoice[];
  /** The backend serves a certificate for its spare (`backup`) key instead of its current one. */
  rotated: boolean;
  /** The pin set's `expires` is in the past (a month ago). Meaningless without pins. */
  expired: boolean;
}

/**
 * The `scenario` number of every event of a what-if run (presets are numbered from 1).
 *
 * @example
 * events.filter((e) => e.scenario === labWhatIfScenario);
 */
export const labWhatIfScenario = 0;

function whatIfError(message: string): KeypinError {
  return new KeypinError("ERR_KEYPIN_LAB_OPTIONS", message);
}

/**
 * Checks a what-if value from outside (a web form, JSON) and returns it as a {@link LabWhatIf} with only its own
 * five keys. Throws a KeypinError `ERR_KEYPIN_LAB_OPTIONS` that names the key and what was expected.
 *
 * @example
 * const whatIf = parseLabWhatIf(JSON.parse(body).whatIf);
 */
export function parseLabWhatIf(input: unknown): LabWhatIf {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw whatIfError(`Expected a what-if object but got ${input === null ? "null" : typeof input}.`);
  }
  const record = input as Record<string, unknown>;
  const known = ["attackerCaInstalled", "viaProxy", "pins", "rotated", "expired"];
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      throw whatIfError(`Unknown what-if key "${key}": expected only ${known.join(", ")}.`);
    }
  }
  const flag = (key: "attackerCaInstalled" | "viaProxy" | "rotated" | "expired"): boolean => {
    const value = record[key];
    if (typeof value !== "boolean") {
      throw whatIfError(
        `Expected "${key}" to be true or false but got ${JSON.stringify(value) ?? "nothing"}.`,
      );
    }
    return value;
  };
  // In the order of the interface, so the first key wrong is the one named.
  const attackerCaInstalled = flag("attackerCaInstalled");
  const viaProxy = flag("viaProxy");
  const pins = record["pins"];
  if (!Array.isArray(pins)) {
    throw whatIfError(
      `Expected "pins" to be a list of ${labPinChoices.join(", ")} but got ${JSON.stringify(pins) ?? "nothing"}.`,
    );
  }
  const seen = new Set<string>();
  for (const pin of pins) {
    if (typeof pin !== "string" || !(labPinChoices as readonly string[]).includes(pin)) {
      throw whatIfError(
        `Expected each pin to be one of ${labPinChoices.join(", ")} but got ${JSON.stringify(pin)}.`,
      );
    }
    if (seen.has(pin)) throw whatIfError(`The pin "${pin}" is listed twice.`);
    seen.add(pin);
  }
  return {
    attackerCaInstalled,
    viaProxy,
    pins: [...(pins as LabPinChoice[])],
    rotated: flag("rotated"),
    expired: flag("expired"),
  };
}

/** The what-if's scene in a few words, for a title. */
function describeScene(w: LabWhatIf): string {
  const parts = [
    w.attackerCaInstalled ? "attacker's CA installed" : "no attacker's CA",
    w.viaProxy ? "through the proxy" : "no proxy",
    w.pins.length > 0 ? `pins ${w.pins.join(" + ")}${w.expired ? " (expired)" : ""}` : "no pins",
  ];
  if (w.rotated) parts.push("key rotated");
  return parts.join(", ");
}

/**
 * The title, the one-sentence reason and the PREDICTED outcome of a what-if run (from the rule table in
 * `predict.ts`, not by running it; the run's observed outcome comes from the counters and is compared with it).
 *
 * @example
 * describeWhatIf({ attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false });
 * // { title: "What if: attacker's CA installed, through the proxy, pins root", proves: "…", expected: "blocked" }
 */
export function describeWhatIf(w: LabWhatIf): { title: string; proves: string; expected: LabResult } {
  const prediction = predictWhatIf(w);
  return {
    title: `What if: ${describeScene(w)}`,
    proves: prediction.because,
    expected: prediction.observation,
  };
}
