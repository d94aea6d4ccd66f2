// The shapes the page reads: the lab's JSON events (packages/lab/src/events.ts) and the server's API
// (the contract's W2 section). Only the fields the page uses; every other field is shown as it is.
export type Actor = "app" | "device" | "proxy" | "backend" | "lab";
export type Values = { readonly [key: string]: unknown };

export interface StepEvent {
  v: 1;
  type: "step";
  scenario: number | null;
  ts: string;
  actor: Actor;
  step: string;
  text: string;
  route: string[];
  data: Values;
}
export interface OutcomeEvent {
  v: 1;
  type: "outcome";
  scenario: number;
  ts: string;
  title: string;
  expected: string;
  observed: string;
  ok: boolean;
  tokenLeaked: boolean;
  attackerAppBytes: number;
  backendHits: number;
}
export interface SummaryEvent {
  v: 1;
  type: "summary";
  scenario: null;
  ts: string;
  ok: boolean;
  durationMs: number;
  scenarios: { scenario: number; title: string; expected: string; observed: string; ok: boolean }[];
}
export type LabEvent = StepEvent | OutcomeEvent | SummaryEvent;

export type PinChoice = "leaf" | "intermediate" | "root" | "backup";
export interface WhatIf {
  attackerCaInstalled: boolean;
  viaProxy: boolean;
  pins: PinChoice[];
  rotated: boolean;
  expired: boolean;
}
export interface ScenarioInfo {
  id: number;
  name: string;
  title: string;
  proves: string;
  expected: string;
  whatIf: WhatIf | null;
}
export interface LabInfo {
  scenarios: ScenarioInfo[];
  runs: { id: string; status: string }[];
  defaultRun: string;
}
export interface RunInfo {
  id: string;
  status: "running" | "done" | "failed";
  error?: unknown;
}
export interface PinCommand {
  scenario: number;
  pin: string;
  subject: string;
  file: string;
  command: string;
}
export interface Platforms {
  scenario: number;
  policy: unknown;
  platforms: {
    id: string;
    label: string;
    language: string;
    filename: string;
    text: string;
    notes: string[];
  }[];
}
export interface RunFile {
  name: string;
  description: string;
  size: number;
}
