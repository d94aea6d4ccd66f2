// @keypin/lab: the MITM lab. The exports below are the whole public API: run the lab (`runLab`), or one
// parameterised what-if run of it (`runLab({ whatIf })`, predicted by `describeWhatIf`), tell it (`LabNarrator`),
// list its scenarios (`labScenarios`), or start its cast for your own experiments (`startCast`).

export type { BackendRequest } from "./backend.js";
export { type LabCast, type LabPins, startCast } from "./cast.js";
export type { LabCertificateView, LabPathCertificate } from "./certificate-views.js";
export type {
  LabActor,
  LabEvent,
  LabKeepInfo,
  LabObservation,
  LabOutcomeEvent,
  LabResult,
  LabStep,
  LabStepData,
  LabStepEvent,
  LabStepId,
  LabSummary,
  LabSummaryEvent,
  StepData,
} from "./events.js";
export { type LabColors, LabNarrator, type LabNarratorOptions } from "./narrate.js";
export type { ProxyLogEntry } from "./proxy.js";
export { type RunLabOptions, runLab } from "./run-lab.js";
export { type LabScenario, labScenarios, type ScenarioContext } from "./scenarios/index.js";
export { predictWhatIf, type WhatIfPrediction, type WhatIfRule } from "./what-if/predict.js";
export {
  describeWhatIf,
  type LabPinChoice,
  type LabWhatIf,
  labPinChoices,
  labWhatIfScenario,
  parseLabWhatIf,
} from "./what-if/what-if.js";
