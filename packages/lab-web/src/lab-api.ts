// What lab-web uses of @keypin/lab's run, in one place.
import { type LabEvent, type LabSummary, labScenarios, runLab } from "@keypin/lab";

/** A key the app may pin in a what-if run (the contract of @keypin/lab's `LabPinChoice`). */
export type LabPinChoice = "leaf" | "intermediate" | "root" | "backup";

/** The pin choices, in the order the page offers them. */
export const labPinChoices: readonly LabPinChoice[] = ["leaf", "intermediate", "root", "backup"];

/** One parameterised attempt (the contract of @keypin/lab's `LabWhatIf`). */
export interface LabWhatIf {
  attackerCaInstalled: boolean;
  viaProxy: boolean;
  pins: LabPinChoice[];
  rotated: boolean;
  expired: boolean;
}

/** What a client asked to run: some presets, or one what-if. */
export type RunRequest = { scenarios: number[] } | { whatIf: LabWhatIf };

export interface StartRunOptions {
  request: RunRequest;
  onEvent: (event: LabEvent) => void;
  onKeylog: (line: string) => void;
  signal: AbortSignal;
}

type RunLabWithExtras = (
  options: Parameters<typeof runLab>[0] & { whatIf?: LabWhatIf; onKeylog?: (line: string) => void },
) => Promise<LabSummary>;

/** Runs the lab for a request, with every event and NSS key log line handed to the callbacks. */
export function startRun(options: StartRunOptions): Promise<LabSummary> {
  const run = runLab as RunLabWithExtras;
  const { request } = options;
  return run({
    ...("whatIf" in request ? { whatIf: request.whatIf } : { scenarios: request.scenarios }),
    onEvent: options.onEvent,
    onKeylog: options.onKeylog,
    signal: options.signal,
  });
}

export { labScenarios };
