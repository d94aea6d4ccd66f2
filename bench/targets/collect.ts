// Target 17 (issue 17): `keypin collect`'s ingest rate, embedded (SQLite through sql.js) and PostgreSQL,
// against a bare node:http server that reads and JSON.parses the same bodies and discards them.
//   17-sqlite, 17-postgres  reports/s of each, and its paired per-round ratio to the bare server's
//   17-memory               the collector's RSS over a flood of 50,000 duplicate reports (10× the 5,000/s goal)
// Each server runs in its own process, and the client in another (lib/collect-client-child.ts: raw keep-alive
// sockets, CONCURRENCY connections, the same bodies for every server), so that on two cores each has a core
// and the client's work does not land on the server's event loop. Rounds alternate bare, SQLite, PostgreSQL
// (then reversed), each round a fresh batch of bodies: 1 in 50 starts a new group, the rest repeat 24 groups.
// PostgreSQL is a throwaway cluster from Debian's binaries, started as packages/collect/test/pg-cluster.ts does
// (fsync=off: the PostgreSQL row measures the collector's work and the protocol, not this disk).
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPgBin, loadChain, startPgCluster } from "@keypin/testkit";
import { alternate, leastSquares, medianInterval, ratiosOf, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

const CONCURRENCY = 32;
const DISTINCT_SHARE = 0.02;
const GOAL_RATE = 5000;
const GOAL_RATIO = 0.5;
const FLOOD = 50_000;
const FLOOD_STEP = 2_500;

interface Child {
  process: ChildProcess;
  port: number;
  ask<T>(message: Record<string, unknown>, type: string): Promise<T>;
  close(): Promise<void>;
}

async function forkChild(
  script: string,
  env: Record<string, string>,
  execArgv: string[] = [],
): Promise<Child> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: [...execArgv, "--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<{ port?: number }>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${script} exited early (code ${code})`)));
    child.once("message", (m: { type: string; port?: number }) => resolve(m));
  });
  return {
    process: child,
    port: ready.port ?? 0,
    ask: (message, type) =>
      new Promise((resolve) => {
        const on = (m: { type: string }) => {
          if (m.type !== type) return;
          child.off("message", on);
          resolve(m as never);
        };
        child.on("message", on);
        child.send(message);
      }),
    close: async () => {
      if (child.connected) child.send({ type: "close" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Server-side node flags, e.g. KEYPIN_BENCH_COLLECT_SERVER_ARGS="--cpu-prof --cpu-prof-dir=.bench/profiles". */
const serverArgs = process.env.KEYPIN_BENCH_COLLECT_SERVER_ARGS?.split(" ").filter(Boolean) ?? [];

function startServer(config: Record<string, unknown>): Promise<Child> {
  return forkChild(
    "../lib/collect-server-child.ts",
    { KEYPIN_BENCH_COLLECT: JSON.stringify(config) },
    serverArgs,
  );
}

interface RoundAnswer {
  ms: number;
  statuses: Record<string, number>;
  error?: string;
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const rounds = ctx.quick ? 6 : 15;
  const perRound = ctx.quick ? 2_000 : 8_000;
  const chains = (["p256", "rsa2048"] as const).map((k) => {
    const c = loadChain(join(ctx.dir, k), k);
    return { leaf: c.leafPem, intermediate: c.intermediatePem, root: c.rootPem };
  });
  const work = mkdtempSync(join(tmpdir(), "keypin-bench-collect-"));
  const client = await forkChild("../lib/collect-client-child.ts", {
    KEYPIN_BENCH_CHAINS: JSON.stringify(chains),
  });
  const servers: Child[] = [];
  const results: TargetResult[] = [];
  let pg: { url: string; stop(): void } | undefined;
  let pgReason: string | undefined;
  const pgBin = findPgBin();
  if (!pgBin) pgReason = "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb)";
  let nonce = 0;
  /** Server CPU µs per report of each round, per server (by port). */
  const cpuPerReport = new Map<number, number[]>();
  const usage = (server: Child) =>
    server.ask<{ rss: number; cpuMicros: number; errors: number }>({ type: "rss" }, "rss");
  const round = async (server: Child, count: number, distinctShare: number): Promise<number> => {
    const before = await usage(server);
    const answer = await client.ask<RoundAnswer>(
      {
        type: "run",
        port: server.port,
        count,
        concurrency: CONCURRENCY,
        distinctShare,
        nonce: `r${nonce++}`,
      },
      "done",
    );
    if (answer.error) throw new Error(`a collect round failed: ${answer.error}`);
    const ok = answer.statuses["201"] ?? 0;
    if (ok !== count)
      throw new Error(`${count} reports sent, ${ok} answered 201: ${JSON.stringify(answer.statuses)}`);
    const after = await usage(server);
    if (after.errors > 0) throw new Error(`the collector reported ${after.errors} store errors`);
    const list = cpuPerReport.get(server.port) ?? [];
    list.push((after.cpuMicros - before.cpuMicros) / count);
    cpuPerReport.set(server.port, list);
    return (count * 1000) / answer.ms;
  };
  try {
    if (pgBin) pg = await startPgCluster();
    const bare = await startServer({ kind: "bare" });
    servers.push(bare);
    const sqlite = await startServer({
      kind: "collector",
      database: join(work, "reports.db"),
      modules: ctx.modules,
    });
    servers.push(sqlite);
    const postgres = pg
      ? await startServer({ kind: "collector", database: pg.url, modules: ctx.modules })
      : undefined;
    if (postgres) servers.push(postgres);
    const sides = [
      { name: "bare", server: bare },
      { name: "sqlite", server: sqlite },
      ...(postgres ? [{ name: "postgres", server: postgres }] : []),
    ];
    const values = await alternate(
      sides.map((s) => ({ name: s.name, run: () => round(s.server, perRound, DISTINCT_SHARE) })),
      rounds,
      1,
    );
    const bareRates = values.get("bare")!;
    // The warm-up round is the first of each server's CPU figures.
    const cpuOf = (server: Child) => (cpuPerReport.get(server.port) ?? []).slice(1);
    const bareCpu = cpuOf(bare);
    const unit = "reports/s";
    const mix = `${perRound} reports a round per server, ${CONCURRENCY} keep-alive connections, 1 in ${1 / DISTINCT_SHARE} a new group and the rest 24 repeated groups (every body distinct: device id and time vary), client in its own process; rounds alternate bare/SQLite/PostgreSQL, ${rounds} measured after 1 warm-up`;
    for (const side of ["sqlite", "postgres"] as const) {
      const label = side === "sqlite" ? "embedded SQLite (sql.js)" : "PostgreSQL";
      const base = {
        target: 17,
        id: `17-${side}`,
        title: `keypin collect on ${label} vs a bare node:http server that parses and discards the same reports`,
        metric: "reports/s (ratio to bare in notes)",
        threshold: side === "sqlite" ? `≥ ${GOAL_RATE}/s and ≥ ${GOAL_RATIO} of bare` : "none (reported)",
      };
      const rates = values.get(side);
      if (!rates) {
        results.push({ ...base, status: "not-measured", reason: pgReason ?? "no PostgreSQL" });
        continue;
      }
      const ratios = ratiosOf(bareRates, rates);
      const ratio = summarize(ratios);
      const ri = medianInterval(ratios);
      const rate = summarize(rates);
      const rateI = medianInterval(rates);
      const cpu = cpuOf(side === "sqlite" ? sqlite : (postgres as Child));
      const cpuRatios = ratiosOf(cpu, bareCpu);
      const cpuRatio = summarize(cpuRatios);
      const cpuI = medianInterval(cpuRatios);
      const status =
        side === "sqlite"
          ? judge(rate.median, ">=", GOAL_RATE) === "met" && judge(ratio.median, ">=", GOAL_RATIO) === "met"
            ? "met"
            : "missed"
          : "info";
      results.push({
        ...base,
        status,
        value: rate.median,
        sides: {
          "bare node:http": { ...summarize(bareRates), unit },
          [`collector, ${label}`]: { ...rate, unit },
          [`collector/bare`]: { ...ratio, unit: "ratio" },
          "bare node:http, server CPU": { ...summarize(bareCpu), unit: "µs/report" },
          [`collector, ${label}, server CPU`]: { ...summarize(cpu), unit: "µs/report" },
        },
        notes: [
          `reports/s median ${rate.median.toFixed(0)} (95% interval of the median ${rateI.low.toFixed(0)}–${rateI.high.toFixed(0)})`,
          `collector/bare: median of ${rounds} per-round ratios ${ratio.median.toFixed(3)} (95% interval ${ri.low.toFixed(3)}–${ri.high.toFixed(3)}, IQR ${ratio.q1.toFixed(3)}–${ratio.q3.toFixed(3)})`,
          `server CPU per report (user + system, all its threads), bare/collector: median ${cpuRatio.median.toFixed(3)} (95% interval ${cpuI.low.toFixed(3)}–${cpuI.high.toFixed(3)}): the ratio the collector would reach with a core to itself, whatever else runs on the machine`,
          mix,
        ],
      });
    }
    for (const s of servers.splice(0)) await s.close();

    // Memory: a fresh collector on a fresh SQLite file, flooded with one group's duplicates.
    const flooded = await startServer({
      kind: "collector",
      database: join(work, "flood.db"),
      modules: ctx.modules,
    });
    servers.push(flooded);
    const sent: number[] = [];
    const rss: number[] = [];
    let total = 0;
    const step = ctx.quick ? FLOOD_STEP / 5 : FLOOD_STEP;
    for (const count of ctx.quick ? [FLOOD / 5] : [FLOOD]) {
      for (let done = 0; done < count; done += step) {
        await round(flooded, step, 0);
        total += step;
        sent.push(total);
        rss.push((await flooded.ask<{ rss: number }>({ type: "rss" }, "rss")).rss);
      }
    }
    const half = Math.floor(sent.length / 2);
    const fit = leastSquares(sent.slice(half), rss.slice(half));
    const perThousand = (fit.slope * 1000) / 1024;
    const seFloor = (fit.slopeStdErr * 1000) / 1024;
    // A report body is ~3 KB: a collector keeping each duplicate would grow ≥ 3,000 KiB per 1,000.
    const limit = 100;
    results.push({
      target: 17,
      id: "17-memory",
      title: `keypin collect (SQLite) RSS over a flood of ${total} duplicate reports`,
      metric: "RSS growth, second half, KiB per 1,000 reports",
      value: perThousand,
      threshold: `≤ ${limit} (flat; keeping each ~3 KB report would be ≥ 3,000)`,
      status: judge(perThousand, "<=", limit),
      notes: [
        `least squares over the second half: ${perThousand.toFixed(1)} ± ${seFloor.toFixed(1)} KiB per 1,000 reports (r² ${fit.r2.toFixed(2)})`,
        `RSS ${(rss[0]! / 2 ** 20).toFixed(1)} MiB after ${sent[0]}, ${(Math.max(...rss) / 2 ** 20).toFixed(1)} MiB at most, ${(rss[rss.length - 1]! / 2 ** 20).toFixed(1)} MiB after ${total}`,
      ],
    });
  } finally {
    for (const s of servers) await s.close();
    client.process.send({ type: "exit" });
    pg?.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}
