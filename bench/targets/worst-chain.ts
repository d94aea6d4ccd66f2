// Target 8 (issue 12, bounded work per handshake): on the worst chains we could craft that OpenSSL still accepts,
// a cold pinned handshake costs at most 3× an unpinned handshake on the same chain, measured in the same run.
//   unpinned  tls.connect with the same trust (Node's roots + the crafted root), rejectUnauthorized, Node's own
//             checkServerIdentity: what OpenSSL and Node spend on the chain anyway
//   pinned    tls.connect with pinnedTlsOptions({ policy pinning the real intermediate, ca: root })
// Both sides get a chain never served before on every handshake (a new leaf and a re-issued intermediate, from a
// server in its own process), so every signature keypin checks is a cold one. Time: from connect to the handshake's
// outcome (secureConnect, or the pinned client's refusal). Sides alternate each round; each round's ratio is pinned /
// unpinned, and the row gives their median with its 95% interval (lib/stats.ts).
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { craftChain, opensslPinOfCertificateFile, SHAPES, type ShapeName } from "@keypin/testkit";
import { loadNode, missingReason, type NodeApi } from "../lib/keypin-api.js";
import { startRotatingTlsServer } from "../lib/rotating-tls-server.js";
import { alternate, medianInterval, ratiosOf, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

const HOST = "worst.keypin.test";
const LIMIT = 3;

interface Outcome {
  ms: number;
  /** "ok" for a completed handshake, else the error's code. */
  result: string;
}

function handshake(options: tls.ConnectionOptions, port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = tls.connect({ ...options, host: "127.0.0.1", port, servername: HOST });
    socket.once("secureConnect", () => {
      const ms = performance.now() - start;
      socket.destroy();
      resolve({ ms, result: socket.authorized ? "ok" : "unauthorized" });
    });
    socket.once("error", (error: Error & { code?: string }) => {
      const ms = performance.now() - start;
      socket.destroy();
      resolve({ ms, result: error.code ?? error.message });
    });
  });
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const node = await loadNode(ctx);
  const reason = missingReason("@keypin/node", node, ["pinnedTlsOptions"]);
  const shapes = Object.keys(SHAPES) as ShapeName[];
  const rounds = ctx.quick ? 6 : 25;
  const results: TargetResult[] = [];
  const dir = join(ctx.dir, "worst-chain");
  mkdirSync(dir, { recursive: true });
  for (const shape of shapes) {
    const base = {
      target: 8,
      id: `8-worst-chain-${shape}`,
      title: `cold handshake on a crafted chain: ${shape}`,
      metric: "time pinned/unpinned (paired median)",
      threshold: `≤ ${LIMIT}`,
    };
    if (reason) {
      results.push({ ...base, status: "not-measured", reason });
      continue;
    }
    const api = node.api as NodeApi;
    const chain = await craftChain(shape, HOST);
    // 1 warm-up per side, then `rounds` per side: one fresh chain per handshake.
    const variants = [];
    for (let i = 0; i < 2 * (rounds + 1); i++) variants.push(await chain.makeVariant(i));
    writeFileSync(join(dir, `${shape}-intermediate.pem`), chain.intermediatePem);
    const pin = opensslPinOfCertificateFile(join(dir, `${shape}-intermediate.pem`));
    const policy = { domains: { [HOST]: { pins: [pin, `sha256/${randomBytes(32).toString("base64")}`] } } };
    const pinnedOptions = api.pinnedTlsOptions({ policy, ca: chain.rootPem });
    const plainOptions: tls.ConnectionOptions = {
      secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, chain.rootPem] }),
      rejectUnauthorized: true,
    };
    const server = await startRotatingTlsServer(
      dir,
      chain.leafKeyPem,
      variants.map((v) => v.served),
    );
    const outcomes = { unpinned: new Set<string>(), pinned: new Set<string>() };
    let values: Map<string, number[]>;
    try {
      values = await alternate(
        [
          {
            name: "unpinned",
            run: async () => {
              const o = await handshake(plainOptions, server.port);
              outcomes.unpinned.add(o.result);
              return o.ms;
            },
          },
          {
            name: "pinned",
            run: async () => {
              const o = await handshake(pinnedOptions, server.port);
              outcomes.pinned.add(o.result);
              return o.ms;
            },
          },
        ],
        rounds,
        1,
      );
      const served = await server.served();
      if (served > variants.length)
        throw new Error(`${served} handshakes for ${variants.length} chains: some chain was served twice`);
    } finally {
      await server.close();
    }
    // The chain must be one OpenSSL accepts (else keypin never runs), and the pinned outcome must be one answer.
    if (outcomes.unpinned.size !== 1 || !outcomes.unpinned.has("ok")) {
      results.push({
        ...base,
        status: "broken",
        reason: `the unpinned client did not accept the crafted chain: ${[...outcomes.unpinned].join(", ")}`,
      });
      continue;
    }
    if (outcomes.pinned.size !== 1) {
      results.push({
        ...base,
        status: "broken",
        reason: `the pinned client's outcome changed between handshakes: ${[...outcomes.pinned].join(", ")}`,
      });
      continue;
    }
    const unpinned = values.get("unpinned")!;
    const pinned = values.get("pinned")!;
    const ratios = ratiosOf(unpinned, pinned);
    const ratio = summarize(ratios);
    const { low, high } = medianInterval(ratios);
    const pinnedOutcome = [...outcomes.pinned][0]!;
    const served = new X509Certificate(variants[0]!.leafPem);
    results.push({
      ...base,
      status: judge(ratio.median, "<=", LIMIT),
      value: ratio.median,
      sides: {
        unpinned: { ...summarize(unpinned), unit: "ms" },
        pinned: { ...summarize(pinned), unit: "ms" },
      },
      notes: [
        `pinned/unpinned per round: median ${ratio.median.toFixed(2)}, 95% interval ${low.toFixed(2)}–${high.toFixed(2)}, min–max ${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}`,
        `chain: ${chain.description}; ${chain.tail.length + 1} certificates served`,
        `unpinned: every handshake accepted by OpenSSL; pinned: ${pinnedOutcome === "ok" ? "every handshake pinned (the real intermediate's key)" : `every handshake refused with ${pinnedOutcome}`}`,
        `cold: a new leaf (${served.subject.split("\n")[0]}, fresh serial), intermediate and decoys re-issued, on each of the ${variants.length} handshakes`,
      ],
    });
  }
  return results;
}
