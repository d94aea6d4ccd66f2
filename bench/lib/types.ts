// Shapes shared by the orchestrator (bench/run.ts) and the target groups it runs in child processes.
import type { Summary } from "./stats.js";

/** "info": a reference measurement with no target (e.g. an A/A calibration). */
export type Status = "met" | "missed" | "not-measured" | "broken" | "info";

export interface SideResult extends Summary {
  /** Unit of the side's values, e.g. "conn/s", "req/s", "pins/s", "ms", "µs". */
  unit: string;
}

export interface TargetResult {
  /** Issue 7's target number, 1 to 7. */
  target: number;
  /** Stable id, e.g. "1-undici-rsa2048". */
  id: string;
  title: string;
  status: Status;
  /** What `value` is, e.g. "throughput pinned/plain". */
  metric: string;
  value?: number;
  /** Human form of the threshold, e.g. "≥ 0.97". */
  threshold: string;
  sides?: Record<string, SideResult>;
  /** Extra facts worth printing (paired-round ratio spread, session reuse counts…). */
  notes?: string[];
  /** Why a target was not measured or broke. */
  reason?: string;
}

export interface BenchContext {
  /** Temporary directory holding the generated PKI, one sub-directory per key kind. */
  dir: string;
  /** Repository root. */
  repo: string;
  /** The snapshot of the built packages every target measures (see lib/snapshot.ts). */
  modules: string;
  /** Fewer and shorter rounds (a smoke run of the harness; its numbers are not the published ones). */
  quick: boolean;
  /** Rounds per pair for targets 1 and 2 instead of their defaults (`--rounds`). */
  rounds?: number;
}

export function judge(value: number, op: ">=" | "<=", limit: number): "met" | "missed" {
  return (op === ">=" ? value >= limit : value <= limit) ? "met" : "missed";
}
