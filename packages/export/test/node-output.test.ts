// The `node` output runs (through tsx, in its own process, importing the built @keypin/node) and pins a
// real HTTPS connection: the right pin passes, a wrong pin fails before the request is sent, through
// both the undici dispatcher and the https agent it builds.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { parsePolicy } from "@keypin/core";
import { exportPolicy } from "@keypin/export";
import { makePki, makeTempDir } from "@keypin/testkit";
import ts from "typescript";
import { repoRoot } from "./helpers.js";

const run = promisify(execFile);
const tsxCli = createRequire(join(repoRoot, "package.json")).resolve("tsx/cli");

const runner = `
import { request } from "node:https";
import { createAgent, createDispatcher } from "./pinning.ts";

const [caPem, port, ...hosts] = JSON.parse(process.argv[2]!) as [string, number, ...string[]];
const lookup = (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
  options?.all ? callback(null, [{ address: "127.0.0.1", family: 4 }]) : callback(null, "127.0.0.1", 4);

const dispatcher = createDispatcher({ ca: caPem, connect: { lookup } });
const agent = createAgent({ ca: caPem, connect: { lookup } });
for (const host of hosts) {
  try {
    const response = await dispatcher.request({ origin: \`https://\${host}:\${port}\`, path: "/", method: "GET" });
    console.log(JSON.stringify({ via: "dispatcher", host, status: response.statusCode, body: await response.body.text() }));
  } catch (error) {
    console.log(JSON.stringify({ via: "dispatcher", host, code: (error as { code?: string }).code }));
  }
  const result = await new Promise<Record<string, unknown>>((resolve) => {
    const req = request({ host, port, path: "/", agent, lookup: lookup as never }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode }));
    });
    req.on("error", (error) => resolve({ code: (error as { code?: string }).code }));
    req.end();
  });
  console.log(JSON.stringify({ via: "agent", host, ...result }));
}
await dispatcher.close();
agent.destroy();
`;

describe("node output", () => {
  it("runs, and pins through the dispatcher and the agent it builds", async () => {
    const nodeDist = join(repoRoot, "packages", "node", "dist", "index.js");
    assert.ok(existsSync(nodeDist), "packages/node/dist is missing: run `npm run build` first");
    using tmp = makeTempDir("keypin-node-output-");
    const pki = makePki(tmp.dir, ["pinned.keypin.test", "wrong.keypin.test"]);
    const policy = parsePolicy({
      domains: {
        "pinned.keypin.test": {
          pins: [
            { pin: pki.leafPin, role: "leaf" },
            { pin: pki.otherPin, role: "backup" },
          ],
        },
        "wrong.keypin.test": {
          pins: [
            { pin: pki.otherPin, role: "leaf" },
            { pin: `sha256/${Buffer.alloc(32, 7).toString("base64")}`, role: "backup" },
          ],
        },
      },
    }).policy;
    const { content, differences } = exportPolicy(policy, "node", { source: "keypin.json" });
    assert.deepEqual(differences, []);
    writeFileSync(join(tmp.dir, "pinning.ts"), content);
    writeFileSync(join(tmp.dir, "runner.ts"), runner);
    writeFileSync(join(tmp.dir, "package.json"), JSON.stringify({ type: "module" }));
    mkdirSync(join(tmp.dir, "node_modules", "@keypin"), { recursive: true });
    symlinkSync(join(repoRoot, "packages", "node"), join(tmp.dir, "node_modules", "@keypin", "node"));

    // It also type-checks against @keypin/node's published declarations.
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: ["node"],
      typeRoots: [join(repoRoot, "node_modules", "@types")],
      skipLibCheck: true,
    };
    const program = ts.createProgram([join(tmp.dir, "pinning.ts")], options);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    assert.deepEqual(diagnostics, []);

    const requests: string[] = [];
    const server = createServer({ cert: pki.leafPem, key: pki.leafKeyPem }, (req, res) => {
      requests.push(String(req.headers.host));
      res.end("hello");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const { stdout } = await run(
        process.execPath,
        [tsxCli, "runner.ts", JSON.stringify([pki.caPem, port, "pinned.keypin.test", "wrong.keypin.test"])],
        { cwd: tmp.dir, env: { ...process.env, NODE_OPTIONS: "" }, timeout: 60_000 },
      );
      const results = stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const find = (via: string, host: string) => results.find((r) => r.via === via && r.host === host);
      for (const via of ["dispatcher", "agent"]) {
        assert.equal(find(via, "pinned.keypin.test")?.status, 200, `${via}: the right pin passes`);
        assert.equal(
          find(via, "wrong.keypin.test")?.code,
          "ERR_KEYPIN_PIN_MISMATCH",
          `${via}: a wrong pin fails`,
        );
      }
      assert.ok(
        !requests.some((h) => h.startsWith("wrong.keypin.test")),
        "no request reached the server on a mismatch",
      );
      assert.equal(requests.filter((h) => h.startsWith("pinned.keypin.test")).length, 2);
    } finally {
      server.close();
    }
  });
});
