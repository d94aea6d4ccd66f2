// Checks what a client POSTs to /api/runs: exactly `{ "scenarios": [numbers] }` or `{ "whatIf": {…} }`, with
// every field's type and value, so nothing unchecked reaches the lab.
import { isKeypinError } from "@keypin/core";
import { type LabWhatIf, parseLabWhatIf } from "@keypin/lab";
import { HttpError } from "./errors.js";
import { labScenarios, type RunRequest } from "./lab-api.js";

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
  try {
    return parseLabWhatIf(value);
  } catch (error) {
    if (isKeypinError(error)) throw bad(`In "whatIf": ${error.message}`);
    throw error;
  }
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
