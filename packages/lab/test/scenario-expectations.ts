// What the lab's tests expect of each registered scenario, read from labScenarios and from what the scenario
// declares it expects (`expected`, `whatIf`): a scenario added to the registry is checked by the same tests
// without editing them, and a scenario whose outcome changes still fails them.
import type { LabObservation, LabScenario } from "@keypin/lab";
import { labScenarios } from "@keypin/lab";

const labelled = /^[a-z0-9-]+: (works|token-stolen|blocked|failed: .+)$/;

/**
 * Each app's expected observation, in order: one for `"blocked"`, two for `"backup: works, no-backup: blocked"`.
 *
 * @example
 * expectedObservations(scenarioNamed("key-rotation")); // ["works", "blocked"]
 */
export function expectedObservations(scenario: Pick<LabScenario, "expected">): LabObservation[] {
  if (!scenario.expected.includes(", ")) return [scenario.expected as LabObservation];
  return scenario.expected.split(", ").map((part) => {
    const match = labelled.exec(part);
    if (!match) throw new Error(`not a labelled observation: ${part}`);
    return match[1] as LabObservation;
  });
}

/**
 * The observation of an attempt whose forged certificate no anchor of the device vouches for: OpenSSL (Node's
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`) refuses it before any path is verified, so no pin is extracted or compared.
 */
export const untrustedForgery: LabObservation = "failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE";

/** What a scenario's expected observations imply for its counters (the meaning of each `LabObservation`). */
export interface ExpectedCounters {
  /** The apps the scenario runs: one request each. */
  apps: number;
  /** The token ends up in the attacker's log ("token-stolen"). */
  tokenLeaked: boolean;
  /** The backend serves each app that got its profile ("works" or "token-stolen"), relayed or not. */
  backendHits: number;
  /** The proxy reads application data from the app: only when it steals the token. */
  attackerReadsAppData: boolean;
  /** How many of its apps get a verified path (all but an untrusted forgery's), whose pins are then compared. */
  verifiedPaths: number;
}

/**
 * The counters a scenario's declared expectation implies.
 *
 * @example
 * expectedCounters(scenarioNamed("pinned-app")); // { apps: 1, tokenLeaked: false, backendHits: 0, attackerReadsAppData: false, verifiedPaths: 1 }
 */
export function expectedCounters(scenario: Pick<LabScenario, "expected">): ExpectedCounters {
  const observations = expectedObservations(scenario);
  const stolen = observations.includes("token-stolen");
  return {
    apps: observations.length,
    tokenLeaked: stolen,
    backendHits: observations.filter((o) => o === "works" || o === "token-stolen").length,
    attackerReadsAppData: stolen,
    verifiedPaths: observations.filter((o) => o !== untrustedForgery).length,
  };
}

/**
 * The registered scenario of that name (throws for an unknown one, so a renamed scenario fails its test loudly).
 *
 * @example
 * scenarioNamed("appended-intermediate").id; // 5
 */
export function scenarioNamed(name: string): LabScenario {
  const scenario = labScenarios.find((s) => s.name === name);
  if (!scenario) throw new Error(`no lab scenario is named ${name}`);
  return scenario;
}

/**
 * The scenario number of each app request of a whole run, in order (a scenario with two apps appears twice).
 *
 * @example
 * requestsOfAllScenarios(); // [1, 2, 3, 4, 5, 6, 6, 7]
 */
export function requestsOfAllScenarios(): number[] {
  return labScenarios.flatMap((s) => Array.from({ length: expectedCounters(s).apps }, () => s.id));
}
