import type { LabCast } from "../cast.js";
import type { LabObservation, LabResult, LabStep } from "../events.js";
import type { LabWhatIf } from "../what-if/what-if.js";

/**
 * What the runner hands a scenario: the cast, the scenario's number, and a way to emit its steps.
 *
 * @example
 * await labScenarios[0]!.run({ cast, scenario: 1, step: (step) => console.log(step.actor, step.step, step.text) });
 */
export interface ScenarioContext {
  cast: LabCast;
  /** The scenario's number (its place in `labScenarios`). */
  scenario: number;
  step(step: LabStep): void;
  /** Every key log line of every TLS session the app opens (`runLab`'s `onKeylog`). */
  onKeylog?: ((line: string) => void) | undefined;
}

/** What a scenario definition's `run` gets: the context, and the numbers of the other scenarios by name. */
export interface ScenarioRunContext extends ScenarioContext {
  /** The number of the scenario registered under `name` (throws for an unknown name). */
  numberOf(name: string): number;
}

/** What a scenario expects: one app's observation, or one per app, labelled. */
export type ScenarioExpectation = LabObservation | Readonly<Record<string, LabObservation>>;

/** What a scenario observed, in the shape of what it expected. */
export type ScenarioObservation<E extends ScenarioExpectation> = E extends string
  ? LabObservation
  : { [K in keyof E]: LabObservation };

/**
 * One scenario, in its own file under `scenarios/`, registered by one line in `scenarios/index.ts`.
 *
 * @example
 * export const ordinaryHttps = defineScenario({
 *   name: "ordinary-https", title: "Ordinary HTTPS, no attacker", proves: "…", expected: "works",
 *   async run(ctx) { return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: false })).observation; },
 * });
 */
export interface ScenarioDefinition<E extends ScenarioExpectation = ScenarioExpectation> {
  /** A stable kebab-case name, by which other scenarios refer to this one (their numbers follow the list). */
  name: string;
  title: string;
  /** What the scenario proves, in one sentence (the narration shows it); a function to name other scenarios. */
  proves: string | ((numberOf: (name: string) => number) => string);
  expected: E;
  /**
   * The parameterised attempt this scenario is, when it is one (see `defineWhatIfScenario`); `null` or absent
   * for a scenario that is not one attempt in a what-if's scene (its doc comment says why).
   */
  whatIf?: LabWhatIf | null;
  /** Runs the scenario and returns what it observed (classified from the counters). */
  run(context: ScenarioRunContext): Promise<ScenarioObservation<E>>;
}

/**
 * Types a scenario definition (the expectation's literal type carries over to what `run` must return).
 *
 * @example
 * export const pinnedApp = defineScenario({ name: "pinned-app", expected: "blocked", … });
 */
export function defineScenario<const E extends ScenarioExpectation>(
  definition: ScenarioDefinition<E>,
): ScenarioDefinition<E> {
  return definition;
}

/**
 * One of the lab's scenarios, numbered by its place in the list.
 *
 * @example
 * const third: LabScenario = labScenarios.find((s) => s.id === 3)!;
 * third.expected; // "blocked"
 */
export interface LabScenario {
  /** Its number: its place in `labScenarios`, from 1. */
  id: number;
  name: string;
  title: string;
  /** What the scenario proves, in one sentence (the README and the narration use it). */
  proves: string;
  expected: LabResult;
  /**
   * The what-if this preset is: the same parameterised attempt `runLab({ whatIf })` runs. `null` for a preset
   * that is not one attempt in a what-if's scene: the appended intermediate (the proxy's extra certificate is no
   * what-if setting) and the key rotation (two apps with different pin sets, each a `rotated: true` attempt).
   */
  whatIf: LabWhatIf | null;
  /** Runs the scenario and returns what it observed (classified from the counters). */
  run(context: ScenarioContext): Promise<LabResult>;
}

/** `"works"`, or `{ backup: "works", "no-backup": "blocked" }` as `backup: works, no-backup: blocked`. */
function formatResult(result: ScenarioExpectation): LabResult {
  if (typeof result === "string") return result;
  return Object.entries(result)
    .map(([label, observation]) => `${label}: ${observation}`)
    .join(", ") as LabResult;
}

/**
 * Numbers the definitions by their place in the list (from 1) and resolves their references to each other.
 *
 * @example
 * export const labScenarios = registerScenarios([ordinaryHttps, attackerCaNoPinning]);
 */
export function registerScenarios(definitions: readonly ScenarioDefinition[]): readonly LabScenario[] {
  const numbers = new Map<string, number>();
  definitions.forEach((definition, index) => {
    if (numbers.has(definition.name)) throw new Error(`two lab scenarios are named ${definition.name}`);
    numbers.set(definition.name, index + 1);
  });
  const numberOf = (name: string): number => {
    const number = numbers.get(name);
    if (number === undefined) throw new Error(`no lab scenario is named ${name}`);
    return number;
  };
  return definitions.map((definition, index) => ({
    id: index + 1,
    name: definition.name,
    title: definition.title,
    proves: typeof definition.proves === "string" ? definition.proves : definition.proves(numberOf),
    expected: formatResult(definition.expected),
    whatIf: definition.whatIf ? { ...definition.whatIf, pins: [...definition.whatIf.pins] } : null,
    async run(context: ScenarioContext): Promise<LabResult> {
      return formatResult(await definition.run({ ...context, numberOf }));
    },
  }));
}
