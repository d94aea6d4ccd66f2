// Target 9 (issue 19): the cold per-handshake check against a whole new connection, measured in the same rounds.
// A pinned client meets a chain it has not seen on a new host, after a renewal, from another CDN edge; then the
// check reads both certificates, applies OpenSSL's issuer rules (issue 12's hardening) and verifies both
// signatures. Each round makes 5 new connections (full handshake, Connection: close, plain undici Agent), each
// followed by one check, as a pinned client's check follows its handshake:
//   cold check   pinnedTlsOptions(options).checkServerIdentity(host, cert) on a chain whose leaf and intermediate
//                bytes the process has never seen (same keys, new serial numbers): 3 per round, median
//   new key      the check on a chain whose intermediate also has a key never seen (an issuer key to import):
//                1 per round, first or last in turn
//   new leaf     the check on a never-seen leaf under the chain's own intermediate (bytes the process has
//                checked before): a renewal or another edge's certificate under the same CA, the common case.
//                The intermediate's signature by the root is a verdict keypin keeps (by the exact bytes of both),
//                so one signature is verified: 1 per round, in the middle. Shown beside the value, not in it.
//   floor        no keypin code at all: node:crypto's X509Certificate.verify for the same two hops of another
//                never-seen chain (certificates read and keys imported beforehand, not timed), after one more new
//                connection: the part of the check that must stay, measured the same way. Beside the value.
// Value: the median over the rounds of (median cold check / median new connection) in the same round, with its
// 95% interval.
import { randomBytes, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DetailedPeerCertificate } from "node:tls";
import {
  type Chain,
  type ChainKind,
  loadChain,
  makeVariants,
  openssl,
  opensslPinOfCertificateFile,
} from "@keypin/testkit";
import { HOST, plainClient } from "../lib/clients.js";
import { startHttpsServers } from "../lib/https-server.js";
import { loadNode, missingReason, type NodeApi } from "../lib/keypin-api.js";
import { makeNewKeyVariants } from "../lib/new-key-variants.js";
import { peerCertificate } from "../lib/peer-certificate.js";
import { medianInterval, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

type CheckIdentity = (hostname: string, cert: DetailedPeerCertificate) => Error | undefined;

const KIND_LABEL: Record<ChainKind, string> = { rsa2048: "RSA-2048", p256: "ECDSA P-256" };
const LIMIT = 0.05;
const PER_ROUND = 3;

const median = (values: number[]) => summarize(values).median;
const randomPin = () => `sha256/${randomBytes(32).toString("base64")}`;

/** New leaves (the chain's leaf key, new serial numbers) signed by the chain's own intermediate, with the openssl CLI. */
function makeLeafVariants(chain: Chain, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const file = `new-leaf-${i}.pem`;
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "intermediate.pem",
        "-CAkey",
        "intermediate.key",
        "-set_serial",
        String(7000 + i),
        "-out",
        file,
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
        "-extensions",
        "leaf",
      ],
      undefined,
      { cwd: chain.dir },
    );
    out.push(Buffer.from(new X509Certificate(readFileSync(join(chain.dir, file))).raw));
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const node = await loadNode(ctx);
  const reason = missingReason("@keypin/node", node, ["pinnedTlsOptions"]);
  const rounds = ctx.quick ? 8 : 30;
  const results: TargetResult[] = [];
  for (const kind of ["rsa2048", "p256"] as const) {
    const base = {
      target: 9,
      id: `9-cold-check-${kind}`,
      title: `cold per-handshake check (issuer rules and both signatures), ${KIND_LABEL[kind]} chain never seen`,
      metric: "cold check / one new connection, paired per round",
      threshold: `≤ ${LIMIT}`,
    };
    if (reason) {
      results.push({ ...base, status: "not-measured", reason });
      continue;
    }
    const api = node.api as NodeApi;
    const chain = loadChain(join(ctx.dir, kind), kind);
    const known = makeVariants(chain, rounds * PER_ROUND).map((v) =>
      peerCertificate(v.leaf, v.intermediate, chain.der.root),
    );
    const newKey = makeNewKeyVariants(chain, rounds).map((v) =>
      peerCertificate(v.leaf, v.intermediate, chain.der.root),
    );
    const floorPairs = makeVariants(chain, rounds).map((v) => ({
      leaf: new X509Certificate(v.leaf),
      intermediate: new X509Certificate(v.intermediate),
    }));
    const intermediateKey = new X509Certificate(chain.der.intermediate).publicKey; // the variants' issuer key
    const rootKey = new X509Certificate(chain.der.root).publicKey;
    const newLeaf = makeLeafVariants(chain, rounds).map((leaf) =>
      peerCertificate(leaf, chain.der.intermediate, chain.der.root),
    );
    // The known-key chains pin the intermediate's key; the new-key chains pin the root's (their intermediate keys
    // are all different). Both checks walk and pin the same three-certificate path.
    const checkOf = (pins: string[]) =>
      api.pinnedTlsOptions({ policy: { domains: { [HOST]: { pins } } }, ca: chain.rootPem })
        .checkServerIdentity as CheckIdentity;
    const check = checkOf([opensslPinOfCertificateFile(chain.files.intermediate), randomPin()]);
    const checkNewKey = checkOf([opensslPinOfCertificateFile(chain.files.root), randomPin()]);
    const genuine = peerCertificate(chain.der.leaf, chain.der.intermediate, chain.der.root);
    for (const [label, fn] of [
      ["intermediate pin", check],
      ["root pin", checkNewKey],
    ] as const) {
      const error = fn(HOST, genuine);
      if (error) throw new Error(`the pin check (${label}) refused the genuine chain: ${error.message}`);
    }
    const refused = checkOf([randomPin(), randomPin()])(HOST, genuine) as
      | (Error & { code?: string })
      | undefined;
    if (!refused) throw new Error("a pin check with wrong pins accepted the chain");

    const servers = await startHttpsServers([
      { name: kind, keyFile: chain.files.leafKey, certFile: chain.files.served },
    ]);
    const client = plainClient("undici", chain, servers.ports[kind]!, false);
    const cold: number[] = [];
    const conn: number[] = [];
    const coldNewKey: number[] = [];
    const coldNewLeaf: number[] = [];
    const floor: number[] = [];
    const ratiosFloor: number[] = [];
    const ratios: number[] = [];
    const ratiosNewKey: number[] = [];
    const ratiosNewLeaf: number[] = [];
    try {
      for (let i = 0; i < 3; i++) await client.get("/close"); // the client's own first-use costs
      const timeCheck = (fn: CheckIdentity, cert: DetailedPeerCertificate, what: string) => {
        const start = performance.now();
        const error = fn(HOST, cert);
        const us = (performance.now() - start) * 1000;
        if (error) throw new Error(`the cold check refused ${what}: ${error.message}`);
        return us;
      };
      // Each check runs right after a new connection, as a pinned client's check runs right after its handshake
      // (the caches hold the handshake's data, not the check's): back-to-back checks measured 2-3 times faster.
      const connection = async () => {
        const start = performance.now();
        await client.get("/close");
        return (performance.now() - start) * 1000;
      };
      for (let r = 0; r < rounds; r++) {
        const c: number[] = [];
        const n: number[] = [];
        let nk = 0;
        let nl = 0;
        for (let k = 0; k <= PER_ROUND + 1; k++) {
          n.push(await connection());
          // The new-key check takes the first slot in odd rounds and the last in even ones; the new leaf the middle.
          const newKeySlot = r % 2 === 0 ? PER_ROUND + 1 : 0;
          if (k === newKeySlot) nk = timeCheck(checkNewKey, newKey[r]!, `new-key chain ${r}`);
          else if (k === 2) nl = timeCheck(check, newLeaf[r]!, `new leaf ${r}`);
          else c.push(timeCheck(check, known[r * PER_ROUND + c.length]!, `chain ${r}.${c.length}`));
        }
        n.push(await connection());
        const pair = floorPairs[r]!;
        const start = performance.now();
        const signed = pair.leaf.verify(intermediateKey) && pair.intermediate.verify(rootKey);
        const floorUs = (performance.now() - start) * 1000;
        if (!signed) throw new Error(`the floor's signatures did not verify (round ${r})`);
        floor.push(floorUs);
        cold.push(median(c));
        conn.push(median(n));
        coldNewKey.push(nk);
        coldNewLeaf.push(nl);
        ratios.push(median(c) / median(n));
        ratiosNewKey.push(nk / median(n));
        ratiosNewLeaf.push(nl / median(n));
        ratiosFloor.push(floorUs / median(n));
      }
      const stats = await servers.stats();
      if (stats.resumed !== 0)
        throw new Error(`the server resumed ${stats.resumed} TLS sessions; every connection must be new`);
    } finally {
      await client.close();
      await servers.close();
    }
    const value = median(ratios);
    const interval = medianInterval(ratios);
    const newKeyInterval = medianInterval(ratiosNewKey);
    const newLeafInterval = medianInterval(ratiosNewLeaf);
    const floorInterval = medianInterval(ratiosFloor);
    results.push({
      ...base,
      status: judge(value, "<=", LIMIT),
      value,
      sides: {
        "cold check (known issuer keys)": { ...summarize(cold), unit: "µs" },
        "cold check (new intermediate key)": { ...summarize(coldNewKey), unit: "µs" },
        "new leaf under a known intermediate (one signature)": { ...summarize(coldNewLeaf), unit: "µs" },
        "floor: the two signatures alone (node:crypto, nothing else)": { ...summarize(floor), unit: "µs" },
        "one new connection (plain undici)": { ...summarize(conn), unit: "µs" },
      },
      notes: [
        `95% interval of the paired median ${interval.low.toFixed(3)}–${interval.high.toFixed(3)} (${rounds} rounds, each the median of ${PER_ROUND} cold checks over the median of ${PER_ROUND + 3} new connections, each check right after a connection)`,
        `new intermediate key too (one more key import): ${median(ratiosNewKey).toFixed(3)} of a new connection (95% interval ${newKeyInterval.low.toFixed(3)}–${newKeyInterval.high.toFixed(3)})`,
        `new leaf under a known intermediate (its hop to the root already verified, one signature left; not the value): ${median(ratiosNewLeaf).toFixed(3)} of a new connection (95% interval ${newLeafInterval.low.toFixed(3)}–${newLeafInterval.high.toFixed(3)})`,
        `floor (node:crypto's X509Certificate.verify for the two hops, right after a connection, no keypin code): ${median(ratiosFloor).toFixed(3)} of a new connection (95% interval ${floorInterval.low.toFixed(3)}–${floorInterval.high.toFixed(3)}); the value cannot go below it`,
        `every cold chain was accepted, and a check with wrong pins refused the genuine chain (${refused.code ?? refused.message})`,
        "cold: leaf and intermediate bytes never seen by the process, so both certificates are read, the issuer rules applied and both signatures verified with node:crypto",
      ],
    });
  }
  return results;
}
