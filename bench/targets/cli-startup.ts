// Target 6: CLI start-up. Whole-process wall time, spawn to exit, of
//   keypin   node_modules/.bin/keypin hash <leaf.pem>      (the installed bin, not npx)
//   node     node -e ""                                     (the floor for any Node CLI)
//   openssl  openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
// alternating, many rounds. keypin's output must contain openssl's pin for the same certificate.
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  loadChain,
  OPENSSL_PIN_PIPELINE,
  opensslPinOfCertificateFile,
  type ProcessResult,
  runProcess,
} from "@keypin/testkit";
import { alternate, pairedRatios, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

/** Wall time of one process, spawn to exit, in the repository. */
const timeProcess = (command: string, args: string[], cwd: string) => runProcess(command, args, { cwd });

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const chain = loadChain(join(ctx.dir, "p256"), "p256");
  const bin = join(ctx.modules, ".bin", "keypin");
  const pin = opensslPinOfCertificateFile(chain.files.leaf);
  const pipeline = ["-c", OPENSSL_PIN_PIPELINE, "sh", chain.files.leaf];
  const base = {
    target: 6,
    id: "6-cli-startup",
    title: "CLI start-up: keypin hash",
    metric: "keypin / bare node (wall ms)",
    threshold: "≤ 1.3",
  };
  if (!existsSync(bin)) {
    return [{ ...base, status: "not-measured", reason: `${bin} does not exist (run npm install)` }];
  }
  const probe = await timeProcess(bin, ["hash", chain.files.leaf], ctx.repo);
  if (probe.code !== 0) {
    const message = (probe.stderr || probe.stdout).trim().split("\n")[0];
    return [
      {
        ...base,
        status: "not-measured",
        reason: `\`keypin hash\` does not work yet (exit ${probe.code}: ${message})`,
      },
    ];
  }
  if (!probe.stdout.includes(pin.slice("sha256/".length))) {
    throw new Error(`keypin hash printed no pin matching openssl's ${pin}:\n${probe.stdout}`);
  }
  const check = (name: string, exit: ProcessResult) => {
    if (exit.code !== 0) throw new Error(`${name} exited ${exit.code}: ${exit.stderr.trim()}`);
    return exit.ms;
  };
  const sides = [
    {
      name: 'bare node -e ""',
      run: async () => check("node", await timeProcess(process.execPath, ["-e", ""], ctx.repo)),
    },
    {
      name: "keypin hash",
      run: async () => check("keypin", await timeProcess(bin, ["hash", chain.files.leaf], ctx.repo)),
    },
    {
      name: "openssl pipeline",
      run: async () => check("openssl", await timeProcess("sh", pipeline, ctx.repo)),
    },
  ];
  const values = await alternate(sides, ctx.quick ? 5 : 25, 2);
  const s = (name: string) => ({ ...summarize(values.get(name)!), unit: "ms" });
  const node = s(sides[0]!.name);
  const keypin = s("keypin hash");
  const paired = pairedRatios(values.get(sides[0]!.name)!, values.get("keypin hash")!);
  const ratio = paired.median;
  return [
    {
      ...base,
      status: judge(ratio, "<=", 1.3),
      value: ratio,
      sides: { [sides[0]!.name]: node, "keypin hash": keypin, "openssl pipeline": s("openssl pipeline") },
      notes: [
        `value = median of per-round ratios keypin/node (min–max ${paired.min.toFixed(2)}–${paired.max.toFixed(2)}, IQR ${paired.q1.toFixed(2)}–${paired.q3.toFixed(2)}); ratio of the medians ${(keypin.median / node.median).toFixed(2)}`,
        `bin: node_modules/.bin/keypin of the run's installed-style snapshot (a symlink to bin/keypin.js, shebang /usr/bin/env node), ${process.version}`,
      ],
    },
  ];
}
