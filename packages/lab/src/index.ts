// @keypin/lab: the MITM lab. The exports below are the whole public API.

export { type BackendRequest, LabBackend, labProfile } from "./backend.js";
export { DeviceTrustStore, type LabCast, type LabPins, labHost, startCast } from "./cast.js";
export type {
  LabActor,
  LabEvent,
  LabObservation,
  LabOutcomeEvent,
  LabStepEvent,
  LabStepId,
  LabSummary,
  LabSummaryEvent,
} from "./events.js";
export { type LabColors, LabNarrator, type LabNarratorOptions } from "./narrate.js";
export { InterceptingProxy, type ProxyLogEntry } from "./proxy.js";
export { formatCommand, type LabKeepInfo, type RunLabOptions, runLab } from "./run-lab.js";
export { type LabScenario, labScenarios } from "./scenarios.js";
