// keypin benchmarks (issue 7): `npm run bench` builds the packages, then runs this file.
//
//   node --import tsx bench/run.ts            all targets, full rounds (~5–8 minutes on 2 cores)
//   node --import tsx bench/run.ts --quick    fewer, shorter rounds: a smoke run of the harness
//   node --import tsx bench/run.ts --only 3,6 some targets
//   node --import tsx bench/run.ts --only 1,2 --rounds 300
//                                             more rounds for targets 1 and 2, to resolve a few percent
//                                             on a noisy machine (each row's 95% interval is printed)
//
// Each group of targets runs in its own child process (fresh heap, no JIT or cache state carried over),
// loading @keypin/* and the keypin bin from an installed-style copy of the built packages taken right
// after the build (lib/snapshot.ts). A/B sides alternate inside the child. The run
// exits non-zero only when a measurement breaks (an error, a wrong pin, a failed request), never
// because a target is missed or the machine is slow.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeChain } from "@keypin/testkit";
import { snapshotPackages } from "./lib/snapshot.js";
import type { BenchContext, TargetResult } from "./lib/types.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");

interface Group {
  name: string;
  targets: number[];
  /** Extra node flags for the child. */
  execArgv?: string[];
  /** Kill the child after this long (a hung run is a broken run). */
  timeoutMs: number;
  load: () => Promise<{ run(ctx: BenchContext): Promise<TargetResult[]> }>;
}

const groups: Group[] = [
  {
    name: "pins",
    targets: [3],
    execArgv: ["--expose-gc"],
    timeoutMs: 180_000,
    load: () => import("./targets/pins.js"),
  },
  { name: "cli-startup", targets: [6], timeoutMs: 180_000, load: () => import("./targets/cli-startup.js") },
  {
    name: "connections",
    targets: [1, 2],
    timeoutMs: 600_000,
    load: () => import("./targets/connections.js"),
  },
  { name: "check-cost", targets: [4], timeoutMs: 180_000, load: () => import("./targets/check-cost.js") },
  { name: "cli-check", targets: [5], timeoutMs: 450_000, load: () => import("./targets/cli-check.js") },
  {
    name: "memory",
    targets: [7],
    execArgv: ["--expose-gc"],
    timeoutMs: 600_000,
    load: () => import("./targets/memory.js"),
  },
  // Issue 12: a cold pinned handshake on crafted worst-case chains, against an unpinned one on the same chains.
  { name: "worst-chain", targets: [8], timeoutMs: 600_000, load: () => import("./targets/worst-chain.js") },
  // Issue 19: the cold check (never-seen chain, issuer rules and signatures) against a new connection, same rounds.
  { name: "cold-check", targets: [9], timeoutMs: 300_000, load: () => import("./targets/cold-check.js") },
  // Issue 19: 200,000 handshakes, pinned and plain in alternating blocks, to tell a slope from the allocator settling.
  {
    name: "memory-soak",
    targets: [10],
    execArgv: ["--expose-gc"],
    timeoutMs: 1_800_000,
    load: () => import("./targets/memory-soak.js"),
  },
  // Issue 14: new intercepted connections per second, keypin audit against mitmdump, alternating.
  { name: "audit", targets: [14], timeoutMs: 600_000, load: () => import("./targets/audit.js") },
  // Issue 15: the lab's page in Chromium: JS weight, event-to-screen latency per step, the preset run's time.
  { name: "web-page", targets: [15], timeoutMs: 300_000, load: () => import("./targets/web-page.js") },
  // Issue 17: keypin collect's reports/s on SQLite and PostgreSQL against a bare node:http server; RSS under a flood.
  { name: "collect", targets: [17], timeoutMs: 900_000, load: () => import("./targets/collect.js") },
];

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function runChild(): Promise<void> {
  const group = groups.find((g) => g.name === argValue("--child"));
  const ctx = JSON.parse(readFileSync(argValue("--context")!, "utf8")) as BenchContext;
  if (!group) throw new Error(`unknown group ${argValue("--child")}`);
  const results = await (await group.load()).run(ctx);
  writeFileSync(argValue("--out")!, JSON.stringify(results));
}

function git(args: string[]): Promise<string> {
  return new Promise((resolveGit) => {
    const child = spawn("git", args, { cwd: repo, stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("close", () => resolveGit(out.trim()));
    child.on("error", () => resolveGit(""));
  });
}

function runGroup(
  group: Group,
  contextFile: string,
  outFile: string,
): Promise<{ code: number | null; stderrTail: string; ms: number }> {
  return new Promise((resolveRun) => {
    const start = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...(group.execArgv ?? []),
        // e.g. KEYPIN_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=.bench/profiles" to profile each group
        ...(process.env.KEYPIN_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--child",
        group.name,
        "--context",
        contextFile,
        "--out",
        outFile,
      ],
      {
        cwd: repo,
        // No tsconfig paths at run time: @keypin/* resolve through node_modules to the built dist.
        env: { ...process.env, TSX_TSCONFIG_PATH: join(here, "tsconfig.runtime.json") },
        stdio: ["ignore", "inherit", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${group.timeoutMs / 1000} s)`;
      child.kill("SIGKILL");
    }, group.timeoutMs);
    // "exit", not "close": a grandchild that outlived the child may still hold the stderr pipe.
    child.on("exit", (code) => {
      clearTimeout(timer);
      setTimeout(() => child.stderr.destroy(), 100);
      resolveRun({
        code,
        stderrTail: stderr.trim().split("\n").slice(-6).join("\n"),
        ms: performance.now() - start,
      });
    });
  });
}

function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  return value.toPrecision(digits);
}

function printTable(results: TargetResult[]): void {
  const rows = results.map((r) => [
    String(r.target),
    r.title,
    r.metric,
    fmt(r.value),
    r.threshold,
    r.status === "not-measured" ? `NOT MEASURED` : r.status.toUpperCase(),
  ]);
  const head = ["#", "target", "metric", "value", "threshold", "status"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(`\n${line(head)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of rows) console.log(line(row));
  console.log("");
  for (const r of results) {
    const lines: string[] = [];
    for (const [name, s] of Object.entries(r.sides ?? {})) {
      lines.push(
        `    ${name}: median ${fmt(s.median)} ${s.unit} (min–max ${fmt(s.min)}–${fmt(s.max)}, IQR ${fmt(s.q1)}–${fmt(s.q3)}, ${s.rounds} rounds)`,
      );
    }
    for (const note of r.notes ?? []) lines.push(`    note: ${note}`);
    if (r.reason) lines.push(`    ${r.status === "broken" ? "BROKEN" : "why"}: ${r.reason}`);
    if (lines.length > 0) console.log(`  [${r.id}] ${r.title}\n${lines.join("\n")}`);
  }
}

async function main(): Promise<void> {
  if (argValue("--child")) return runChild();
  const quick = process.argv.includes("--quick");
  const only = argValue("--only")
    ?.split(",")
    .map((n) => Number(n));
  const started = new Date();
  const cpu = cpus();
  const machine = {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${release()}`,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  const commit = await git(["rev-parse", "--short", "HEAD"]);
  const dirty = (await git(["status", "--porcelain", "--", "packages"])) !== "";
  console.log(
    `keypin bench ${quick ? "(quick) " : ""}${argValue("--rounds") ? `(${argValue("--rounds")} rounds for targets 1 and 2) ` : ""}on ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, commit ${commit}${dirty ? " + uncommitted package changes" : ""}`,
  );

  const dir = mkdtempSync(join(tmpdir(), "keypin-bench-"));
  // Measure a private copy of the built packages: a concurrent `npm run build` elsewhere in the shared
  // tree wipes packages/*/dist and must not change (or break) the code under test mid-run.
  const modules = await snapshotPackages(repo, dir);
  const roundsArg = argValue("--rounds");
  const rounds = roundsArg === undefined ? undefined : Number(roundsArg);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 6)) {
    throw new Error(`--rounds takes a whole number of at least 6, not ${roundsArg}`);
  }
  const ctx: BenchContext = { dir, repo, quick, modules, ...(rounds ? { rounds } : {}) };
  for (const kind of ["rsa2048", "p256"] as const) {
    mkdirSync(join(dir, kind));
    makeChain(join(dir, kind), kind, ["bench.keypin.test", "*.check.keypin.test"]);
  }
  const contextFile = join(dir, "context.json");
  writeFileSync(contextFile, JSON.stringify(ctx));

  const results: TargetResult[] = [];
  let broken = false;
  try {
    for (const group of groups) {
      if (only && !group.targets.some((t) => only.includes(t))) continue;
      console.log(`\n== ${group.name} (target ${group.targets.join(", ")})`);
      const outFile = join(dir, `${group.name}.json`);
      // --rounds stretches targets 1 and 2 (60 rounds by default), and their time limit with them.
      const stretch = rounds && group.targets.some((t) => t === 1 || t === 2) ? Math.max(1, rounds / 60) : 1;
      const run = await runGroup({ ...group, timeoutMs: group.timeoutMs * stretch }, contextFile, outFile);
      let groupResults: TargetResult[] = [];
      if (run.code === 0) {
        groupResults = JSON.parse(readFileSync(outFile, "utf8")) as TargetResult[];
      } else {
        groupResults = group.targets.map((target) => ({
          target,
          id: `${target}-${group.name}`,
          title: group.name,
          status: "broken" as const,
          metric: "–",
          threshold: "–",
          reason: `the ${group.name} run exited with ${run.code}: ${run.stderrTail}`,
        }));
      }
      for (const r of groupResults) if (r.status === "broken") broken = true;
      results.push(...groupResults);
      console.log(`   (${(run.ms / 1000).toFixed(1)} s)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  printTable(results);
  const finished = new Date();
  const report = {
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: Math.round((finished.getTime() - started.getTime()) / 1000),
    quick,
    rounds: ctx.rounds ?? null,
    commit,
    uncommittedPackageChanges: dirty,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    results,
  };
  mkdirSync(join(repo, ".bench"), { recursive: true });
  const out = join(
    repo,
    ".bench",
    // Only a full run replaces results.json (the file BENCHMARKS.md is made from); partial runs keep their own.
    quick
      ? "results-quick.json"
      : `results${only ? `-only-${only.join("-")}` : ""}${ctx.rounds ? `-rounds-${ctx.rounds}` : ""}.json`,
  );
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results written to ${out} (${report.durationSeconds} s)`);
  if (broken) {
    console.error("bench: at least one run broke (see BROKEN above); the numbers are incomplete.");
    process.exitCode = 1;
  }
}

await main();
