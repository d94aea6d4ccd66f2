import type { BenchContext, TargetResult } from "../lib/types.js";

export async function run(_ctx: BenchContext): Promise<TargetResult[]> {
  return [];
}
