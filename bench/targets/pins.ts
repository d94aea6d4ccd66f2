// Target 3: pins per second from certificate DER.
//   @keypin/core   pinOfCertificate(der, sha256), core's pin-only path (when exported; otherwise
//                  parseCertificate(der).spki → computePin(spki, sha256), which is also reported)
//   node:crypto    new X509Certificate(der).publicKey.export({ type: "spki", format: "der" }) → SHA-256
//   @peculiar/x509 new X509Certificate(der).publicKey.getThumbprint("SHA-256") with Node's webcrypto
//   floor          SHA-256 of the SPKI bytes alone, the least any pin can cost: node:crypto's fastest way to
//                  the digest bytes (`crypto.hash`, Node 20.12+; `createHash` before), with `createHash`
//                  beside it for reference
//   base64 floor   for reference, not a target: the digest of the SPKI bytes as base64 in one native call,
//                  the least a pin string can cost when the SPKI is already cut out (what core's node
//                  adapter asks node:crypto for), so the note can say what core's own walk to the key costs
// Every side's pins are first checked against the openssl CLI's (the oracle); a wrong pin breaks the run.
import * as crypto from "node:crypto";
import { createHash, webcrypto, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { loadChain, opensslPinOfCertificateFile } from "@keypin/testkit";
import * as x509 from "@peculiar/x509";
import { loadCore, loadNode, missingReason, type Sha256 } from "../lib/keypin-api.js";
import { alternate, pairedRatios, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

type PinFn = (der: Uint8Array) => string | Uint8Array | Promise<string>;

const nodeSha256: Sha256 = (data) => createHash("sha256").update(data).digest();
const oneShot = (
  crypto as {
    hash?: (algorithm: string, data: Uint8Array, encoding: "buffer" | "base64") => Buffer | string;
  }
).hash;
/** The floor: the cheapest SHA-256 of some bytes that node:crypto offers. */
const floorSha256: Sha256 =
  typeof oneShot === "function" ? (data) => oneShot("sha256", data, "buffer") as Buffer : nodeSha256;
/** The reference below the floor's pin: the digest as base64, encoded by node:crypto in the same call. */
const base64Sha256 = (data: Uint8Array): string =>
  typeof oneShot === "function"
    ? (oneShot("sha256", data, "base64") as string)
    : createHash("sha256").update(data).digest("base64");

function nodeCryptoPin(der: Uint8Array): string {
  const spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
  return `sha256/${createHash("sha256").update(spki).digest("base64")}`;
}

async function peculiarPin(der: Uint8Array): Promise<string> {
  const cert = new x509.X509Certificate(der);
  const thumbprint = await cert.publicKey.getThumbprint("SHA-256");
  return `sha256/${Buffer.from(thumbprint).toString("base64")}`;
}

/** Picks a batch size that takes about `targetMs`, so each round is long enough to time well. */
async function calibrate(fn: PinFn, inputs: Uint8Array[], targetMs: number): Promise<number> {
  let n = 16;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < n; i++) await fn(inputs[i % inputs.length]!);
    const ms = performance.now() - start;
    if (ms >= targetMs / 4 || n >= 1 << 22)
      return Math.max(16, Math.round((n * targetMs) / Math.max(ms, 0.001)));
    n *= 4;
  }
}

function rateSide(name: string, fn: PinFn, inputs: Uint8Array[], batch: number, isAsync: boolean) {
  const gc = (globalThis as { gc?: () => void }).gc;
  return {
    name,
    run: async () => {
      // Collect the previous side's garbage first (X509Certificate handles, webcrypto promises), so that no
      // side pays for another's: each round then pays only for what its own side allocates.
      gc?.();
      const start = performance.now();
      if (isAsync) {
        for (let i = 0; i < batch; i++) await fn(inputs[i % inputs.length]!);
      } else {
        let sink = 0;
        for (let i = 0; i < batch; i++)
          sink += (fn(inputs[i % inputs.length]!) as string | Uint8Array).length;
        if (sink === 0) throw new Error("no pins computed");
      }
      return (batch * 1000) / (performance.now() - start);
    },
  };
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const chains = (["rsa2048", "p256"] as const).map((kind) => loadChain(join(ctx.dir, kind), kind));
  const inputs: Uint8Array[] = [];
  const expected: string[] = [];
  for (const chain of chains) {
    for (const which of ["leaf", "intermediate", "root"] as const) {
      inputs.push(chain.der[which]);
      expected.push(opensslPinOfCertificateFile(chain.files[which]));
    }
  }
  const spkis = inputs.map((der) =>
    new X509Certificate(der).publicKey.export({ type: "spki", format: "der" }),
  );
  const floor: PinFn = (spki) => floorSha256(spki);

  const core = await loadCore(ctx);
  const node = await loadNode(ctx);
  const coreMissing = missingReason("@keypin/core", core, ["parseCertificate", "computePin"]);
  const notes: string[] = [
    "inputs: leaf, intermediate and root of an RSA-2048 and a P-256 chain, in turn; pins checked against openssl first",
    "a full GC runs before each round of each side, so that no side pays for another's garbage",
    "@peculiar/x509 1.14.3 hashes through Node's webcrypto (crypto.subtle.digest, a promise per pin)",
    typeof oneShot === "function"
      ? "floor: crypto.hash('sha256', spki, 'buffer') over the SPKI bytes, with no parsing and no base64 (createHash beside it for reference)"
      : "floor: createHash('sha256') over the SPKI bytes, with no parsing and no base64 (this Node has no crypto.hash)",
  ];
  const sha256 = node.api.sha256 ?? nodeSha256;
  notes.push(
    node.api.sha256
      ? `core hashes with @keypin/node's sha256 adapter${typeof node.api.sha256.base64 === "function" ? ", which gives the digest as base64 from node:crypto in the same call" : ""}`
      : "core hashes with a local node:crypto adapter",
  );

  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  // `asPin` turns a side's output into the pin the oracle check compares (default: the output is the pin);
  // `digestOnly` sides give bytes, no pin, and are not checked.
  const sides: {
    name: string;
    fn: PinFn;
    async: boolean;
    inputs: Uint8Array[];
    digestOnly?: boolean;
    asPin?: (out: string) => string;
  }[] = [
    { name: "node:crypto path", fn: nodeCryptoPin, async: false, inputs },
    { name: "@peculiar/x509", fn: peculiarPin, async: true, inputs },
    { name: "floor: SHA-256 of SPKI", fn: floor, async: false, inputs: spkis, digestOnly: true },
    {
      name: "SHA-256 of SPKI with createHash",
      fn: nodeSha256,
      async: false,
      inputs: spkis,
      digestOnly: true,
    },
    {
      name: "SHA-256 of SPKI as base64",
      fn: base64Sha256,
      async: false,
      inputs: spkis,
      asPin: (out) => `sha256/${out}`,
    },
  ];
  if (!coreMissing) {
    const { parseCertificate, computePin, pinOfCertificate } = core.api as Required<typeof core.api>;
    // The headline side is core's fastest public way to a pin from DER.
    if (typeof core.api.pinOfCertificate === "function") {
      sides.push({ name: "@keypin/core", fn: (der) => pinOfCertificate(der, sha256), async: false, inputs });
      sides.push({
        name: "@keypin/core parseCertificate + computePin",
        fn: (der) => computePin(parseCertificate(der).spki, sha256),
        async: false,
        inputs,
      });
      notes.push(
        "@keypin/core = pinOfCertificate(der, sha256); the full parseCertificate + computePin is shown beside it",
      );
    } else {
      sides.push({
        name: "@keypin/core",
        fn: (der) => computePin(parseCertificate(der).spki, sha256),
        async: false,
        inputs,
      });
      notes.push("@keypin/core = computePin(parseCertificate(der).spki, sha256) (no pin-only path exported)");
    }
  }

  // Oracle check: every side that gives a pin must give openssl's, for the same certificate.
  for (const side of sides) {
    if (side.digestOnly) continue;
    for (let i = 0; i < side.inputs.length; i++) {
      const out = (await side.fn(side.inputs[i]!)) as string;
      const pin = side.asPin ? side.asPin(out) : out;
      if (pin !== expected[i])
        throw new Error(`${side.name} computed ${pin}, openssl says ${expected[i]} (input ${i})`);
    }
  }

  const targetMs = ctx.quick ? 60 : 120;
  const timed = [];
  for (const side of sides) {
    const batch = await calibrate(side.fn, side.inputs, targetMs);
    timed.push(rateSide(side.name, side.fn, side.inputs, batch, side.async));
  }
  const values = await alternate(timed, ctx.quick ? 3 : 15, 1);
  const summary = (name: string) => ({ ...summarize(values.get(name)!), unit: "pins/s" });
  const sidesOut = Object.fromEntries(sides.map((s) => [s.name, summary(s.name)]));

  const title = "pin computation from certificate DER";
  if (coreMissing) {
    return [
      {
        target: 3,
        id: "3-core-vs-node-crypto",
        title,
        status: "not-measured",
        metric: "core / node:crypto path (pins/s)",
        threshold: "≥ 50",
        sides: sidesOut,
        notes,
        reason: coreMissing,
      },
      {
        target: 3,
        id: "3-floor-vs-core",
        title,
        status: "not-measured",
        metric: "floor / core (pins/s)",
        threshold: "≤ 1.5",
        reason: coreMissing,
      },
    ];
  }
  const coreRate = summarize(values.get("@keypin/core")!).median;
  const nodeRate = summarize(values.get("node:crypto path")!).median;
  const peculiarRate = summarize(values.get("@peculiar/x509")!).median;
  const floorRate = summarize(values.get("floor: SHA-256 of SPKI")!).median;
  const base64Rate = summarize(values.get("SHA-256 of SPKI as base64")!).median;
  const pairedBase64 = pairedRatios(values.get("@keypin/core")!, values.get("SHA-256 of SPKI as base64")!);
  const pairedNode = pairedRatios(values.get("node:crypto path")!, values.get("@keypin/core")!);
  const pairedFloor = pairedRatios(values.get("@keypin/core")!, values.get("floor: SHA-256 of SPKI")!);
  // Headline values: medians of the per-round (paired) ratios, robust to load that drifts between rounds.
  const vsNode = pairedNode.median;
  const vsFloor = pairedFloor.median;
  return [
    {
      target: 3,
      id: "3-core-vs-node-crypto",
      title,
      status: judge(vsNode, ">=", 50),
      metric: "core / node:crypto path (pins/s)",
      value: vsNode,
      threshold: "≥ 50",
      sides: sidesOut,
      notes: [
        ...notes,
        `value = median of per-round ratios core/node:crypto (min–max ${pairedNode.min.toFixed(1)}–${pairedNode.max.toFixed(1)}); ratio of the medians ${(coreRate / nodeRate).toFixed(1)}`,
        `core / @peculiar/x509: ${(coreRate / peculiarRate).toFixed(1)}×`,
      ],
    },
    {
      target: 3,
      id: "3-floor-vs-core",
      title,
      status: judge(vsFloor, "<=", 1.5),
      metric: "floor / core (pins/s)",
      value: vsFloor,
      threshold: "≤ 1.5",
      notes: [
        `value = median of per-round ratios floor/core (min–max ${pairedFloor.min.toFixed(2)}–${pairedFloor.max.toFixed(2)}); ratio of the medians ${(floorRate / coreRate).toFixed(2)}`,
        `per pin: core ${(1e6 / coreRate).toFixed(2)} µs, floor ${(1e6 / floorRate).toFixed(2)} µs, node:crypto path ${(1e6 / nodeRate).toFixed(1)} µs`,
        `for reference: the digest as base64 in one node:crypto call, no certificate to walk: ${(1e6 / base64Rate).toFixed(2)} µs; reference / core (pins/s) ${pairedBase64.median.toFixed(2)} (median of per-round ratios, min–max ${pairedBase64.min.toFixed(2)}–${pairedBase64.max.toFixed(2)}): the rest is core's walk from the certificate to its key`,
      ],
    },
  ];
}
