// Target 5: `keypin check` over 200 host names, all served by one local HTTPS server (the leaf covers
// *.check.keypin.test; the server counts the distinct SNI names it sees) behind a relay that holds each
// connection 50 ms, as a real network would. Whole-process wall time of the installed bin with its
// default concurrency vs `--concurrency 1`. Every host must come back "ok" in the --json report.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadChain, opensslPinOfCertificateFile, type ProcessResult, runProcess } from "@keypin/testkit";
import { startHttpsServers } from "../lib/https-server.js";
import { startLatencyRelay } from "../lib/latency-relay.js";
import { alternate, pairedRatios, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

const LATENCY_MS = 50;

/** The installed bin, timed from spawn to exit, with no proxy and colors as a user has them. */
function runCli(bin: string, args: string[], cwd: string): Promise<ProcessResult> {
  const env = { ...process.env, HTTPS_PROXY: undefined, https_proxy: undefined, HTTP_PROXY: undefined };
  return runProcess(bin, args, { cwd, env: { ...env, http_proxy: undefined, NO_COLOR: undefined } });
}

/** Throws unless the run printed a report with every host "ok". */
function checkReport(run: ProcessResult, hosts: number, label: string): void {
  let report: { ok?: boolean; hosts?: { host: string; status: string; reason?: string }[] };
  try {
    report = JSON.parse(run.stdout) as typeof report;
  } catch {
    throw new Error(
      `keypin check (${label}) printed no JSON (exit ${run.code}): ${run.stderr.trim().slice(0, 500)}`,
    );
  }
  const bad = (report.hosts ?? []).filter((h) => h.status !== "ok");
  if (run.code !== 0 || report.ok !== true || report.hosts?.length !== hosts || bad.length > 0) {
    const first = bad[0] ? `${bad[0].host} ${bad[0].status}: ${bad[0].reason ?? ""}` : "";
    throw new Error(
      `keypin check (${label}) exit ${run.code}, ok=${report.ok}, ${report.hosts?.length} hosts, ${bad.length} not ok ${first}`,
    );
  }
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const count = ctx.quick ? 40 : 200;
  const base = {
    target: 5,
    id: "5-cli-check",
    title: `keypin check over ${count} hosts, ${LATENCY_MS} ms per connection`,
    metric: "time --concurrency 1 / default",
    threshold: "≥ 10",
  };
  const bin = join(ctx.modules, ".bin", "keypin");
  if (!existsSync(bin)) return [{ ...base, status: "not-measured", reason: `${bin} does not exist` }];
  const chain = loadChain(join(ctx.dir, "p256"), "p256");
  const dir = join(ctx.dir, "check");
  mkdirSync(dir, { recursive: true });
  const pins = [
    opensslPinOfCertificateFile(chain.files.intermediate),
    `sha256/${randomBytes(32).toString("base64")}`,
  ];
  const domains: Record<string, { pins: string[] }> = {};
  for (let i = 0; i < count; i++) domains[`h${String(i).padStart(3, "0")}.check.keypin.test`] = { pins };
  const policyFile = join(dir, "keypin.json");
  writeFileSync(policyFile, `${JSON.stringify({ domains }, null, 2)}\n`);

  const servers = await startHttpsServers([
    { name: "sni", keyFile: chain.files.leafKey, certFile: chain.files.served },
  ]);
  const relay = await startLatencyRelay(servers.ports["sni"]!, LATENCY_MS);
  try {
    const args = [
      "check",
      "--policy",
      policyFile,
      "--ca",
      chain.files.root,
      "--connect-to",
      `::127.0.0.1:${relay.port}`,
      "--json",
    ];
    const probe = await runCli(bin, args, dir);
    if (probe.code !== 0 && !probe.stdout.trim().startsWith("{")) {
      const message = (probe.stderr || probe.stdout).trim().split("\n")[0];
      return [
        {
          ...base,
          status: "not-measured",
          reason: `\`keypin check\` does not run yet (exit ${probe.code}: ${message})`,
        },
      ];
    }
    checkReport(probe, count, "probe");
    const before = await servers.stats();
    const relayedBefore = relay.connections();
    const sides = [
      {
        name: "default concurrency",
        run: async () => {
          const r = await runCli(bin, args, dir);
          checkReport(r, count, "default concurrency");
          return r.ms;
        },
      },
      {
        name: "--concurrency 1",
        run: async () => {
          const r = await runCli(bin, [...args, "--concurrency", "1"], dir);
          checkReport(r, count, "--concurrency 1");
          return r.ms;
        },
      },
    ];
    const rounds = ctx.quick ? 1 : 3;
    const values = await alternate(sides, rounds, 0);
    const after = await servers.stats();
    const runs = 2 * rounds;
    if (relay.connections() - relayedBefore < runs * count) {
      throw new Error(
        `the relay saw ${relay.connections() - relayedBefore} connections, expected at least ${runs * count}`,
      );
    }
    const concurrent = summarize(values.get("default concurrency")!);
    const sequential = summarize(values.get("--concurrency 1")!);
    const paired = pairedRatios(values.get("default concurrency")!, values.get("--concurrency 1")!);
    const ratio = paired.median;
    return [
      {
        ...base,
        status: judge(ratio, ">=", 10),
        value: ratio,
        sides: {
          "default concurrency": { ...concurrent, unit: "ms" },
          "--concurrency 1": { ...sequential, unit: "ms" },
        },
        notes: [
          `value = median of per-round ratios (min–max ${paired.min.toFixed(2)}–${paired.max.toFixed(2)}); ratio of the medians ${(sequential.median / concurrent.median).toFixed(2)}`,
          `whole-process wall time of node_modules/.bin/keypin check --json, every host "ok" in every run`,
          `relay held each of ${relay.connections() - relayedBefore} connections ${LATENCY_MS} ms; the server read ${after.hellos - before.hellos} ClientHellos naming ${after.servernames} distinct hosts (SNI)`,
          `floor for one at a time: ${count} × ${LATENCY_MS} ms = ${(count * LATENCY_MS) / 1000} s of latency alone`,
        ],
      },
    ];
  } finally {
    await relay.close();
    await servers.close();
  }
}
