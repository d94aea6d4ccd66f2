// Target 4: the per-handshake pin check, in microseconds: what a pinned client runs when a handshake
// completes. Measured through the public API: `pinnedTlsOptions(options).checkServerIdentity(host, cert)`
// (Node's hostname check, then the signature-verified path and the pins), with `cert` shaped as Node's
// getPeerCertificate(true) gives it (legacy objects linked by issuerCertificate, root self-linked).
//   cold    a chain whose leaf and intermediate bytes this process has never seen (fresh serial numbers,
//           same keys): both parsed, both hops verified with node:crypto, pins computed
//   cached  the same chain again: every cache warm
//   Node's hostname check alone (tls.checkServerIdentity), the floor every client pays already
// For scale, the median time of one new connection with a plain undici Agent is measured too.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { checkServerIdentity, type DetailedPeerCertificate } from "node:tls";
import {
  type Chain,
  type ChainKind,
  loadChain,
  makeVariants,
  opensslPinOfCertificateFile,
} from "@keypin/testkit";
import { HOST, plainClient } from "../lib/clients.js";
import { startHttpsServers } from "../lib/https-server.js";
import { loadNode, missingReason, type NodeApi } from "../lib/keypin-api.js";
import { peerCertificate } from "../lib/peer-certificate.js";
import { summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

type CheckIdentity = (hostname: string, cert: DetailedPeerCertificate) => Error | undefined;

const KIND_LABEL: Record<ChainKind, string> = { rsa2048: "RSA-2048", p256: "ECDSA P-256" };

function timeOnce(fn: () => void): number {
  const start = performance.now();
  fn();
  return (performance.now() - start) * 1000;
}

function timeBatch(fn: () => void, n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - start) * 1000) / n;
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const node = await loadNode(ctx);
  const reason = missingReason("@keypin/node", node, ["pinnedTlsOptions"]);
  const kinds = ["rsa2048", "p256"] as const;
  const results: TargetResult[] = [];
  const variantsPerKind = ctx.quick ? 10 : 40;
  const cachedBatch = 50;
  for (const kind of kinds) {
    const base = {
      target: 4,
      id: `4-check-${kind}`,
      title: `per-handshake pin check, ${KIND_LABEL[kind]} 3-certificate chain`,
      metric: "cached check / one new connection",
      threshold: "≤ 0.03",
    };
    if (reason) {
      results.push({ ...base, status: "not-measured", reason });
      continue;
    }
    const api = node.api as NodeApi;
    const chain: Chain = loadChain(join(ctx.dir, kind), kind);
    const variants = makeVariants(chain, variantsPerKind);
    const policy = {
      domains: {
        [HOST]: {
          pins: [
            opensslPinOfCertificateFile(chain.files.intermediate),
            `sha256/${randomBytes(32).toString("base64")}`,
          ],
        },
      },
    };
    const options = api.pinnedTlsOptions({ policy, ca: chain.rootPem });
    const check = options.checkServerIdentity as CheckIdentity;
    if (typeof check !== "function") throw new Error("pinnedTlsOptions returned no checkServerIdentity");
    const warm = peerCertificate(chain.der.leaf, chain.der.intermediate, chain.der.root);
    const colds = variants.map((v) => peerCertificate(v.leaf, v.intermediate, chain.der.root));
    // The check must really pin: the right chain passes, a chain signed by another root's key fails.
    const ok = check(HOST, warm);
    if (ok) throw new Error(`the pin check refused the genuine chain: ${ok.message}`);
    const wrong = api.pinnedTlsOptions({
      policy: {
        domains: {
          [HOST]: {
            pins: [
              `sha256/${randomBytes(32).toString("base64")}`,
              `sha256/${randomBytes(32).toString("base64")}`,
            ],
          },
        },
      },
      ca: chain.rootPem,
    }).checkServerIdentity as CheckIdentity;
    const refused = wrong(HOST, warm) as (Error & { code?: string }) | undefined;
    if (!refused) throw new Error("a pin check with wrong pins accepted the chain");

    const cold: number[] = [];
    const cached: number[] = [];
    const hostnameOnly: number[] = [];
    for (let i = 0; i < 20; i++) check(HOST, warm); // JIT warm-up on the cached path only
    for (const [i, cert] of colds.entries()) {
      // alternate the order so drift falls on both sides
      const runCold = () => {
        const t = timeOnce(() => {
          const error = check(HOST, cert);
          if (error) throw new Error(`cold check refused variant ${i}: ${error.message}`);
        });
        cold.push(t);
      };
      const runCached = () => cached.push(timeBatch(() => check(HOST, warm), cachedBatch));
      if (i % 2 === 0) {
        runCold();
        runCached();
      } else {
        runCached();
        runCold();
      }
      hostnameOnly.push(timeBatch(() => checkServerIdentity(HOST, warm), cachedBatch));
    }

    // One new connection with a plain client, for scale (sequential, server in its own process).
    const servers = await startHttpsServers([
      { name: kind, keyFile: chain.files.leafKey, certFile: chain.files.served },
    ]);
    const connection: number[] = [];
    try {
      const client = plainClient("undici", chain, servers.ports[kind]!, false);
      try {
        for (let i = 0; i < (ctx.quick ? 10 : 45); i++) {
          const start = performance.now();
          await client.get("/close");
          if (i >= 5) connection.push((performance.now() - start) * 1000);
        }
      } finally {
        await client.close();
      }
    } finally {
      await servers.close();
    }
    const coldS = summarize(cold);
    const cachedS = summarize(cached);
    const connS = summarize(connection);
    const share = cachedS.median / connS.median;
    results.push({
      ...base,
      status: judge(share, "<=", 0.03),
      value: share,
      sides: {
        "cold check": { ...coldS, unit: "µs" },
        "cached check": { ...cachedS, unit: "µs" },
        "Node's hostname check alone": { ...summarize(hostnameOnly), unit: "µs" },
        "one new connection (plain undici)": { ...connS, unit: "µs" },
      },
      notes: [
        `cold/cached: ${(coldS.median / cachedS.median).toFixed(1)}×; cold check / new connection: ${(coldS.median / connS.median).toFixed(2)}`,
        `measured through pinnedTlsOptions().checkServerIdentity, the function every pinned client runs per handshake; wrong pins refused (${refused.code ?? refused.message})`,
        `cold: ${variants.length} chains never seen before (fresh leaf and intermediate bytes); cached: mean of ${cachedBatch} calls per sample`,
        "threshold derived from target 1: a check costing more than 3% of a new connection cannot leave a 0.97 throughput ratio",
      ],
    });
  }
  return results;
}
