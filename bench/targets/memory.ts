// Target 7: resident memory across 10,000 pinned handshakes (new connections, full handshakes) through
// one long-lived createPinnedDispatcher, sampled every 250 handshakes after a forced GC (the child runs
// with --expose-gc). The dispatcher first makes 10,000 handshakes of warm-up (caches filling, JIT, the
// allocator's arenas growing to their working size: RSS rises for a while in any TLS client, the plain
// control included), then 10,000 more; the headline slope (least squares, KiB per 1,000 handshakes) is
// fitted over those last 10,000, and the slope over the warm-up is reported beside it. A leak keeps
// growing in both windows; warm-up does not. A plain undici Agent makes 10,000 handshakes first, as a
// control, and keypin's check alone runs on many fresh peer-certificate objects with no sockets, to see
// what keypin itself keeps.

import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { DetailedPeerCertificate } from "node:tls";
import { type Chain, loadChain } from "@keypin/testkit";
import { type Client, HOST, pinnedClient, plainClient, policyFor } from "../lib/clients.js";
import { startHttpsServers } from "../lib/https-server.js";
import { loadNode, missingReason, type NodeApi } from "../lib/keypin-api.js";
import { drive, type Fit, leastSquares } from "../lib/stats.js";
import type { BenchContext, TargetResult } from "../lib/types.js";

/** Growth we call a trend: a slope this steep (≈10 bytes per handshake) AND clearly above the noise. */
const GROWTH_KIB_PER_1000 = 10;

interface Samples {
  handshakes: number[];
  rssKiB: number[];
  heapKiB: number[];
}

async function sampleRun(client: Client, total: number, every: number): Promise<Samples> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("the memory bench needs --expose-gc");
  const samples: Samples = { handshakes: [], rssKiB: [], heapKiB: [] };
  const take = (n: number) => {
    gc();
    gc();
    const m = process.memoryUsage();
    samples.handshakes.push(n);
    samples.rssKiB.push(m.rss / 1024);
    samples.heapKiB.push(m.heapUsed / 1024);
  };
  take(0);
  for (let done = 0; done < total; done += every) {
    await drive(every, 4, () => client.get("/close"));
    take(done + every);
  }
  return samples;
}

/** Least squares over the samples taken at `from` handshakes and later (up to `to`). */
function fitWindow(samples: Samples, series: number[], from: number, to = Number.POSITIVE_INFINITY): Fit {
  const xs: number[] = [];
  const ys: number[] = [];
  samples.handshakes.forEach((n, i) => {
    if (n < from || n > to) return;
    xs.push(n / 1000);
    ys.push(series[i]!);
  });
  return leastSquares(xs, ys);
}

const growing = (fit: Fit) => fit.slope > GROWTH_KIB_PER_1000 && fit.slope > 3 * fit.slopeStdErr;
const describe = (fit: Fit) =>
  `${fit.slope.toFixed(1)} ± ${fit.slopeStdErr.toFixed(1)} KiB per 1,000 handshakes`;

/** heapUsed slope over many pin checks with no sockets at all: what keypin's own code keeps. */
function checkOnly(api: NodeApi, chain: Chain, calls: number): { calls: number; heap: Fit } {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const legacy = (der: Uint8Array) => new X509Certificate(der).toLegacyObject() as DetailedPeerCertificate;
  const peer = () => {
    const r = legacy(chain.der.root);
    r.issuerCertificate = r;
    const i = legacy(chain.der.intermediate);
    i.issuerCertificate = r;
    const l = legacy(chain.der.leaf);
    l.issuerCertificate = i;
    return l;
  };
  const check = api.pinnedTlsOptions({ policy: policyFor(chain), ca: chain.rootPem }).checkServerIdentity as (
    host: string,
    cert: DetailedPeerCertificate,
  ) => Error | undefined;
  const xs: number[] = [];
  const ys: number[] = [];
  const step = calls / 10;
  for (let done = 0; done <= calls; done += step) {
    if (done > 0) {
      for (let i = 0; i < step; i++) {
        const error = check(HOST, peer());
        if (error) throw new Error(`the pin check refused the genuine chain: ${error.message}`);
      }
    }
    gc();
    gc();
    xs.push(done / 1000);
    ys.push(process.memoryUsage().heapUsed / 1024);
  }
  return { calls, heap: leastSquares(xs.slice(2), ys.slice(2)) };
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const measured = ctx.quick ? 1000 : 10_000;
  const warmup = measured;
  const total = warmup + measured;
  const controlTotal = measured;
  const every = ctx.quick ? 100 : 250;
  const base = {
    target: 7,
    id: "7-memory",
    title: `memory across ${measured.toLocaleString("en")} pinned handshakes after ${warmup.toLocaleString("en")} of warm-up (createPinnedDispatcher, P-256)`,
    metric: "RSS slope (KiB/1,000 handshakes)",
    threshold: "no growth trend",
  };
  const node = await loadNode(ctx);
  const reason = missingReason("@keypin/node", node, ["createPinnedDispatcher"]);
  if (reason) return [{ ...base, status: "not-measured", reason }];
  const api = node.api as NodeApi;
  const chain = loadChain(join(ctx.dir, "p256"), "p256");
  const servers = await startHttpsServers([
    { name: "p256", keyFile: chain.files.leafKey, certFile: chain.files.served },
  ]);
  const port = servers.ports["p256"]!;
  let pinned: Samples;
  let plain: Samples;
  try {
    // The control runs first, so one-off warm-up of undici and Node's TLS (buffers, JIT code) lands on it
    // rather than on the pinned run; a leak grows with handshakes and shows either way.
    const plainC = plainClient("undici", chain, port, false);
    try {
      plain = await sampleRun(plainC, controlTotal, every);
    } finally {
      await plainC.close();
    }
    const pinnedC = pinnedClient(api, "undici", chain, port, false);
    try {
      pinned = await sampleRun(pinnedC, total, every);
    } finally {
      await pinnedC.close();
    }
    const stats = await servers.stats();
    if (stats.connections !== total + controlTotal || stats.resumed !== 0) {
      throw new Error(
        `server saw ${stats.connections} connections (${stats.resumed} resumed), expected ${total + controlTotal} full handshakes`,
      );
    }
  } finally {
    await servers.close();
  }
  const isolated = checkOnly(api, chain, ctx.quick ? 5000 : 50_000);
  const rss = fitWindow(pinned, pinned.rssKiB, warmup);
  const heap = fitWindow(pinned, pinned.heapKiB, warmup);
  // The window the earlier runs fitted: the first 10,000 after their first 20%.
  const earlyRss = fitWindow(pinned, pinned.rssKiB, warmup * 0.2, warmup);
  const earlyHeap = fitWindow(pinned, pinned.heapKiB, warmup * 0.2, warmup);
  const plainRss = fitWindow(plain, plain.rssKiB, controlTotal * 0.2);
  const plainHeap = fitWindow(plain, plain.heapKiB, controlTotal * 0.2);
  const growth = growing(rss) || growing(heap);
  const mib = (kib: number | undefined) => `${((kib ?? 0) / 1024).toFixed(1)} MiB`;
  const at = (n: number) => pinned.rssKiB[pinned.handshakes.indexOf(n)];
  const heapAt = (n: number) => pinned.heapKiB[pinned.handshakes.indexOf(n)];
  return [
    {
      ...base,
      status: growth ? "missed" : "met",
      value: rss.slope,
      notes: [
        `pinned, handshakes ${warmup}–${total}: RSS ${describe(rss)} (R² ${rss.r2.toFixed(2)}); heapUsed ${describe(heap)}`,
        `pinned, warm-up (handshakes ${warmup * 0.2}–${warmup}): RSS ${describe(earlyRss)}; heapUsed ${describe(earlyHeap)}`,
        `pinned: RSS ${mib(at(0))} at start, ${mib(at(warmup))} after ${warmup}, ${mib(at(total))} after ${total}; heapUsed ${mib(heapAt(0))} → ${mib(heapAt(warmup))} → ${mib(heapAt(total))}`,
        `control (plain undici Agent, ${controlTotal} handshakes, run first): RSS ${describe(plainRss)}; heapUsed ${describe(plainHeap)}`,
        `keypin's check alone (pinnedTlsOptions().checkServerIdentity on ${isolated.calls.toLocaleString("en")} fresh peer-certificate objects, no sockets): heapUsed ${isolated.heap.slope.toFixed(2)} ± ${isolated.heap.slopeStdErr.toFixed(2)} KiB per 1,000 checks`,
        `"growth" means a slope above ${GROWTH_KIB_PER_1000} KiB per 1,000 handshakes and above 3 standard errors, in RSS or heapUsed; samples every ${every} handshakes after gc(); the verdict reads the window after warm-up`,
        growth ? "verdict: memory GROWS with handshakes" : "verdict: no growth trend",
      ],
    },
  ];
}
