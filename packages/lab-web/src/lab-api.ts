// What lab-web uses of @keypin/lab's run, in one place.
import { type LabEvent, type LabSummary, type LabWhatIf, labScenarios, runLab } from "@keypin/lab";

/** What a client asked to run: some presets, or one what-if. */
export type RunRequest = { scenarios: number[] } | { whatIf: LabWhatIf };

export interface StartRunOptions {
  request: RunRequest;
  onEvent: (event: LabEvent) => void;
  onKeylog: (line: string) => void;
  signal: AbortSignal;
}

/** Runs the lab for a request, with every event and NSS key log line handed to the callbacks. */
export function startRun(options: StartRunOptions): Promise<LabSummary> {
  const { request } = options;
  return runLab({
    ...("whatIf" in request ? { whatIf: request.whatIf } : { scenarios: request.scenarios }),
    onEvent: options.onEvent,
    onKeylog: options.onKeylog,
    signal: options.signal,
  });
}

export { labScenarios };
