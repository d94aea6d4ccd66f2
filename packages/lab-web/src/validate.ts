// Checks what a client POSTs to /api/runs: exactly `{ "scenarios": [numbers] }` or `{ "whatIf": {…} }`, with
// every field's type and value, so nothing unchecked reaches the lab.
import { HttpError } from "./errors.js";
import {
  type LabPinChoice,
  type LabWhatIf,
  labPinChoices,
  labScenarios,
  type RunRequest,
} from "./lab-api.js";

const whatIfBooleans = ["attackerCaInstalled", "viaProxy", "rotated", "expired"] as const;
const maxScenarios = 32;

function bad(message: string): HttpError {
  return new HttpError("ERR_LAB_WEB_REQUEST", message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, keys: readonly string[], where: string): void {
  const extra = Object.keys(value).filter((k) => !keys.includes(k));
  if (extra.length > 0) {
    throw bad(
      `Expected only ${keys.join(", ")} in ${where} but got ${extra.map((k) => JSON.stringify(k)).join(", ")}.`,
    );
  }
}

function parseScenarios(value: unknown): number[] {
  const known = labScenarios.map((s) => s.id);
  const range = `${known[0]} to ${known[known.length - 1]}`;
  if (!Array.isArray(value) || value.length === 0 || value.length > maxScenarios) {
    throw bad(
      `Expected "scenarios" to be a list of 1 to ${maxScenarios} scenario numbers (${range}), e.g. [3].`,
    );
  }
  for (const id of value) {
    if (typeof id !== "number" || !known.includes(id)) {
      throw bad(`Expected scenario numbers from ${range} but got ${JSON.stringify(id)}.`);
    }
  }
  return value as number[];
}

function parseWhatIf(value: unknown): LabWhatIf {
  const fields = [...whatIfBooleans, "pins"];
  if (!isRecord(value)) throw bad(`Expected "whatIf" to be an object with ${fields.join(", ")}.`);
  onlyKeys(value, fields, '"whatIf"');
  for (const key of whatIfBooleans) {
    if (typeof value[key] !== "boolean") {
      throw bad(
        `Expected "whatIf.${key}" to be true or false but got ${JSON.stringify(value[key] ?? null)}.`,
      );
    }
  }
  const pins = value["pins"];
  if (
    !Array.isArray(pins) ||
    pins.some((p) => !labPinChoices.includes(p as LabPinChoice)) ||
    new Set(pins).size !== pins.length
  ) {
    throw bad(
      `Expected "whatIf.pins" to list distinct keys among ${labPinChoices.join(", ")} ([] for an app that does not pin) but got ${JSON.stringify(pins ?? null)}.`,
    );
  }
  return {
    attackerCaInstalled: value["attackerCaInstalled"] as boolean,
    viaProxy: value["viaProxy"] as boolean,
    pins: [...(pins as LabPinChoice[])],
    rotated: value["rotated"] as boolean,
    expired: value["expired"] as boolean,
  };
}

/**
 * The run a POST /api/runs body asks for, or an HttpError `ERR_LAB_WEB_REQUEST` saying what was expected.
 *
 * @example
 * parseRunRequest({ scenarios: [3] }); // { scenarios: [3] }
 * parseRunRequest({ whatIf: { attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false } });
 */
export function parseRunRequest(body: unknown): RunRequest {
  const usage =
    'Send {"scenarios":[3]} or {"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":["root"],"rotated":false,"expired":false}}.';
  if (!isRecord(body)) throw bad(`Expected a JSON object. ${usage}`);
  const has = (key: string) => Object.hasOwn(body, key);
  if (has("scenarios") === has("whatIf"))
    throw bad(`Expected exactly one of "scenarios" and "whatIf". ${usage}`);
  if (has("scenarios")) {
    onlyKeys(body, ["scenarios"], "the body");
    return { scenarios: parseScenarios(body["scenarios"]) };
  }
  onlyKeys(body, ["whatIf"], "the body");
  return { whatIf: parseWhatIf(body["whatIf"]) };
}
