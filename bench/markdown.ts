// Prints the latest .bench/results.json as Markdown, for BENCHMARKS.md:
//   node --import tsx bench/markdown.ts [.bench/results.json]
import { readFileSync } from "node:fs";
import type { TargetResult } from "./lib/types.js";

interface Report {
  startedAt: string;
  durationSeconds: number;
  quick: boolean;
  /** `--rounds N` for targets 1 and 2, when given. */
  rounds?: number | null;
  commit: string;
  uncommittedPackageChanges: boolean;
  machine: {
    cpuModel: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
  };
  results: TargetResult[];
}

const report = JSON.parse(readFileSync(process.argv[2] ?? ".bench/results.json", "utf8")) as Report;

function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(2);
  return value.toFixed(3);
}

function status(r: TargetResult): string {
  switch (r.status) {
    case "met":
      return "met";
    case "missed":
      return "**missed**";
    case "broken":
      return "**BROKEN**";
    case "info":
      return "reference";
    case "not-measured":
      return "not measured";
    default: {
      const never: never = r.status;
      return never;
    }
  }
}

const m = report.machine;
const lines: string[] = [];
lines.push(
  `Run of ${report.startedAt.replace("T", " ").slice(0, 16)} UTC, ${report.durationSeconds} s${report.quick ? " (quick)" : ""}${report.rounds ? ` (--rounds ${report.rounds})` : ""}, commit ${report.commit}${report.uncommittedPackageChanges ? " (plus uncommitted package changes)" : ""}.`,
  `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; load average ${m.loadAverageAtStart.join(" / ")} at start, ${m.loadAverageAtEnd.join(" / ")} at the end.`,
  "",
  "| # | target | measure | value | threshold | result |",
  "|---|---|---|---|---|---|",
);
for (const r of report.results) {
  lines.push(`| ${r.target} | ${r.title} | ${r.metric} | ${fmt(r.value)} | ${r.threshold} | ${status(r)} |`);
}
lines.push("", "Sides (median, min–max over the rounds):", "");
lines.push("| id | side | median | min–max | IQR | rounds |", "|---|---|---|---|---|---|");
for (const r of report.results) {
  for (const [name, s] of Object.entries(r.sides ?? {})) {
    lines.push(
      `| ${r.id} | ${name} | ${fmt(s.median)} ${s.unit} | ${fmt(s.min)}–${fmt(s.max)} | ${fmt(s.q1)}–${fmt(s.q3)} | ${s.rounds} |`,
    );
  }
}
const notes = report.results.filter((r) => (r.notes?.length ?? 0) > 0 || r.reason);
if (notes.length > 0) {
  lines.push("", "Notes from the run:", "");
  for (const r of notes) {
    const all = [...(r.notes ?? []), ...(r.reason ? [`${r.status}: ${r.reason}`] : [])];
    lines.push(`- \`${r.id}\`: ${all.join("; ")}`);
  }
}
console.log(lines.join("\n"));
