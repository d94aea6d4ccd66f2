// A quick probe for issue 17's work (not part of `npm run bench`): one bare server and one SQLite collector
// (from the working tree's dist), the bench's client, N rounds each; prints server CPU µs per report and
// reports/s per round. Usage: node --import tsx bench/lib/collect-cpu-probe.ts [rounds] [perRound]
// KEYPIN_BENCH_COLLECT_SERVER_ARGS as in the target (e.g. --cpu-prof --cpu-prof-dir=DIR).
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadChain, makeChain } from "@keypin/testkit";

const rounds = Number(process.argv[2] ?? 4);
const perRound = Number(process.argv[3] ?? 8000);
const fixtures = process.env.KEYPIN_PROBE_CHAINS ?? mkdtempSync(join(tmpdir(), "keypin-probe-"));
const serverArgs = process.env.KEYPIN_BENCH_COLLECT_SERVER_ARGS?.split(" ").filter(Boolean) ?? [];
const chains = (["p256", "rsa2048"] as const).map((k) => {
  if (!process.env.KEYPIN_PROBE_CHAINS) {
    mkdirSync(join(fixtures, k), { recursive: true });
    makeChain(join(fixtures, k), k, ["bench.keypin.test", "*.check.keypin.test"]);
  }
  const c = loadChain(join(fixtures, k), k);
  return { leaf: c.leafPem, intermediate: c.intermediatePem, root: c.rootPem };
});
function start(script: string, env: Record<string, string>, args: string[] = []) {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: [...args, "--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = new Promise<number>((r) => child.once("message", (m: { port?: number }) => r(m.port ?? 0)));
  const ask = <T>(msg: object, type: string) =>
    new Promise<T>((resolve) => {
      const on = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off("message", on);
        resolve(m as T);
      };
      child.on("message", on);
      child.send(msg);
    });
  return { child, ready, ask };
}
const client = start("./collect-client-child.ts", { KEYPIN_BENCH_CHAINS: JSON.stringify(chains) });
await client.ready;
const modules =
  process.env.KEYPIN_PROBE_MODULES ?? join(fileURLToPath(new URL("../../", import.meta.url)), "node_modules");
const kinds = (process.env.KEYPIN_PROBE_KINDS ?? "bare,collector").split(",");
let nonce = 0;
for (const kind of kinds) {
  const dir = mkdtempSync(join(tmpdir(), "keypin-probe-db-"));
  const s = start(
    "./collect-server-child.ts",
    { KEYPIN_BENCH_COLLECT: JSON.stringify({ kind, database: join(dir, "r.db"), modules }) },
    serverArgs,
  );
  const port = await s.ready;
  const out: string[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const before = await s.ask<{ cpuMicros: number; systemMicros: number }>({ type: "rss" }, "rss");
    const a = await client.ask<{ ms: number; statuses: Record<string, number> }>(
      { type: "run", port, count: perRound, concurrency: 32, distinctShare: 0.02, nonce: `p${nonce++}` },
      "done",
    );
    const after = await s.ask<{ cpuMicros: number; systemMicros: number }>({ type: "rss" }, "rss");
    if ((a.statuses["201"] ?? 0) !== perRound) throw new Error(JSON.stringify(a.statuses));
    if (r === 0) continue; // warm-up
    out.push(
      `${((after.cpuMicros - before.cpuMicros) / perRound).toFixed(1)}µs (sys ${((after.systemMicros - before.systemMicros) / perRound).toFixed(1)}) ${Math.round((perRound * 1000) / a.ms)}/s`,
    );
  }
  console.log(kind.padEnd(10), out.join("  "));
  s.child.send({ type: "close" });
  await new Promise((r) => s.child.once("exit", r));
}
client.child.kill();
