// Target 10 (issue 19): a memory soak long enough to tell a slope from the allocator settling. One pinned
// createPinnedDispatcher and one plain undici Agent (P-256, new connection per request, full handshakes) make
// 200,000 handshakes between them in alternating blocks of 10,000 (plain, pinned, plain, pinned…), both clients
// living through the whole run. After each block: gc() twice, then RSS, heapUsed and external. Two questions:
//   does the process keep growing?   least-squares slope of RSS over the second half of the run (after 100,000),
//                                    against the first half's: settling flattens, a leak does not
//   is it pinning that grows?        the mean RSS step of a pinned block minus that of a plain block, over the
//                                    blocks after the first four, with its standard error
// "Growth" means more than 10 KiB per 1,000 handshakes (10 bytes each) and more than 3 standard errors.
import { join } from "node:path";
import { loadChain } from "@keypin/testkit";
import { type Client, pinnedClient, plainClient } from "../lib/clients.js";
import { startHttpsServers } from "../lib/https-server.js";
import { loadNode, missingReason, type NodeApi } from "../lib/keypin-api.js";
import { drive, type Fit, leastSquares } from "../lib/stats.js";
import type { BenchContext, TargetResult } from "../lib/types.js";

const GROWTH_KIB_PER_1000 = 10;

interface Sample {
  block: number;
  side: "plain" | "pinned";
  /** Handshakes made by both clients so far. */
  handshakes: number;
  rssKiB: number;
  heapKiB: number;
  externalKiB: number;
}

function meanAndStdErr(values: number[]): { mean: number; stdErr: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1);
  return { mean, stdErr: Math.sqrt(variance / n) };
}

const grows = (slope: number, stdErr: number) => slope > GROWTH_KIB_PER_1000 && slope > 3 * stdErr;
const fitText = (fit: Fit) =>
  `${fit.slope.toFixed(1)} ± ${fit.slopeStdErr.toFixed(1)} KiB per 1,000 handshakes`;

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const block = ctx.quick ? 500 : 10_000;
  const blocks = ctx.quick ? 8 : 20;
  const total = block * blocks;
  const base = {
    target: 10,
    id: "10-memory-soak",
    title: `memory soak: ${total.toLocaleString("en")} new connections, pinned and plain in alternating blocks of ${block.toLocaleString("en")} (undici, P-256)`,
    metric: "RSS step of a pinned block minus a plain one (KiB/1,000 handshakes)",
    threshold: "no growth trend",
  };
  const node = await loadNode(ctx);
  const reason = missingReason("@keypin/node", node, ["createPinnedDispatcher"]);
  if (reason) return [{ ...base, status: "not-measured", reason }];
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("the memory soak needs --expose-gc");
  const api = node.api as NodeApi;
  const chain = loadChain(join(ctx.dir, "p256"), "p256");
  const servers = await startHttpsServers([
    { name: "p256", keyFile: chain.files.leafKey, certFile: chain.files.served },
  ]);
  const port = servers.ports["p256"]!;
  let checks = 0;
  const clients: Record<Sample["side"], Client> = {
    plain: plainClient("undici", chain, port, false),
    pinned: pinnedClient(api, "undici", chain, port, false, undefined, () => {
      checks++;
    }),
  };
  const samples: Sample[] = [];
  const take = (blockIndex: number, side: Sample["side"], handshakes: number) => {
    gc();
    gc();
    const m = process.memoryUsage();
    samples.push({
      block: blockIndex,
      side,
      handshakes,
      rssKiB: m.rss / 1024,
      heapKiB: m.heapUsed / 1024,
      externalKiB: m.external / 1024,
    });
  };
  const started = performance.now();
  try {
    take(-1, "plain", 0);
    for (let b = 0; b < blocks; b++) {
      const side = b % 2 === 0 ? "plain" : "pinned";
      await drive(block, 4, () => clients[side].get("/close"));
      take(b, side, (b + 1) * block);
    }
    const stats = await servers.stats();
    if (stats.connections !== total || stats.resumed !== 0)
      throw new Error(
        `server saw ${stats.connections} connections (${stats.resumed} resumed), expected ${total} full handshakes`,
      );
    if (checks !== total / 2)
      throw new Error(`the pinned client ran ${checks} pin checks for ${total / 2} handshakes`);
  } finally {
    await clients.plain.close();
    await clients.pinned.close();
    await servers.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const ends = samples.filter((s) => s.block >= 0);
  const fitOf = (series: (s: Sample) => number, from: number, to: number) => {
    const window = samples.filter((s) => s.handshakes >= from && s.handshakes <= to);
    return leastSquares(
      window.map((s) => s.handshakes / 1000),
      window.map(series),
    );
  };
  const half = total / 2;
  const rssLate = fitOf((s) => s.rssKiB, half, total);
  const rssEarly = fitOf((s) => s.rssKiB, 0, half);
  const heapLate = fitOf((s) => s.heapKiB, half, total);
  const externalLate = fitOf((s) => s.externalKiB, half, total);
  // RSS step of each block (from the previous block's end), per 1,000 handshakes, after the first four blocks.
  const steps = { plain: [] as number[], pinned: [] as number[] };
  ends.forEach((s, i) => {
    const before = i === 0 ? samples[0]! : ends[i - 1]!;
    if (s.block >= 4) steps[s.side].push(((s.rssKiB - before.rssKiB) / block) * 1000);
  });
  const pinnedStep = meanAndStdErr(steps.pinned);
  const plainStep = meanAndStdErr(steps.plain);
  const difference = pinnedStep.mean - plainStep.mean;
  const differenceStdErr = Math.sqrt(pinnedStep.stdErr ** 2 + plainStep.stdErr ** 2);
  const pinningGrows = grows(difference, differenceStdErr);
  const processGrows =
    grows(rssLate.slope, rssLate.slopeStdErr) || grows(heapLate.slope, heapLate.slopeStdErr);
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const first = samples[0]!;
  const mid = samples.find((s) => s.handshakes === half)!;
  const last = samples[samples.length - 1]!;
  return [
    {
      ...base,
      status: pinningGrows ? "missed" : "met",
      value: difference,
      notes: [
        `pinned block minus plain block: ${difference.toFixed(1)} ± ${differenceStdErr.toFixed(1)} KiB per 1,000 handshakes (pinned ${pinnedStep.mean.toFixed(1)} ± ${pinnedStep.stdErr.toFixed(1)}, plain ${plainStep.mean.toFixed(1)} ± ${plainStep.stdErr.toFixed(1)}; ${steps.pinned.length} + ${steps.plain.length} blocks after the first four)`,
        `whole process, RSS over handshakes ${half.toLocaleString("en")}–${total.toLocaleString("en")}: ${fitText(rssLate)}; over 0–${half.toLocaleString("en")}: ${fitText(rssEarly)}`,
        `heapUsed over the second half: ${fitText(heapLate)}; external: ${fitText(externalLate)}`,
        `RSS ${mib(first.rssKiB)} at start, ${mib(mid.rssKiB)} after ${half.toLocaleString("en")}, ${mib(last.rssKiB)} after ${total.toLocaleString("en")}; heapUsed ${mib(first.heapKiB)} → ${mib(mid.heapKiB)} → ${mib(last.heapKiB)}`,
        `RSS after each block (MiB): ${ends.map((s) => `${s.side === "pinned" ? "P" : "p"}${(s.rssKiB / 1024).toFixed(1)}`).join(" ")} (P pinned, p plain)`,
        `${total.toLocaleString("en")} full handshakes in ${seconds.toFixed(0)} s, none resumed (server count); ${checks.toLocaleString("en")} pin checks`,
        `verdict: ${pinningGrows ? "pinned handshakes GROW memory beyond plain ones" : "pinned handshakes grow memory no more than plain ones"}; the process as a whole ${processGrows ? "still GROWS in the second half" : "shows no growth trend in the second half"}`,
      ],
    },
  ];
}
