// The pin set in force in a run's scenarios, read from the run's own events.
import type { PolicyFile } from "@keypin/core";
import type { LabEvent } from "@keypin/lab";

function isPolicyFile(value: unknown): value is PolicyFile {
  const domains = (value as { domains?: unknown } | null)?.domains;
  return typeof domains === "object" && domains !== null && !Array.isArray(domains);
}

/**
 * The pin set in force in scenario `scenario` of a run: the `policy` of its first `request` step that has one
 * (the app's pin set for that attempt), else the scenario's set-up `policy`; `null` when the app does not pin.
 *
 * @example
 * policyOfScenario(run.events, 3)?.domains["api.myapp.com"]?.pins;
 */
export function policyOfScenario(events: readonly LabEvent[], scenario: number): PolicyFile | null {
  const steps = events.filter(
    (e): e is Extract<LabEvent, { type: "step" }> => e.type === "step" && e.scenario === scenario,
  );
  for (const step of steps) {
    const policy = (step.data as Record<string, unknown>)["policy"];
    if (step.step === "request" && isPolicyFile(policy)) return policy;
  }
  for (const step of steps) {
    const policy = (step.data as Record<string, unknown>)["policy"];
    if (step.step === "setup" && isPolicyFile(policy)) return policy;
  }
  return null;
}

/** The scenario numbers of a run, in the order they ran. */
export function scenariosOf(events: readonly LabEvent[]): number[] {
  const seen: number[] = [];
  for (const e of events) if (e.scenario !== null && !seen.includes(e.scenario)) seen.push(e.scenario);
  return seen;
}

/**
 * The run's pin set (its `keypin.json`): the pin set of the first scenario of the run in which the app pins.
 *
 * @example
 * const run = policyOfRun(events); // for the default run, scenario 3's pin set
 */
export function policyOfRun(events: readonly LabEvent[]): { scenario: number; policy: PolicyFile } | null {
  for (const scenario of scenariosOf(events)) {
    const policy = policyOfScenario(events, scenario);
    if (policy) return { scenario, policy };
  }
  return null;
}
