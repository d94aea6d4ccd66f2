// The packages as users get them: `npm pack` tarballs, installed together into an empty folder.
// This needs the built packages (npm test builds first) and the npm registry for third-party
// dependencies (CI reaches it); nothing else from the network.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const root = resolve(import.meta.dirname, "..");
const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] };
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

describe("published packages", () => {
  let work: string;
  const tarballs: string[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), "keypin-pack-"));
    for (const ws of rootPkg.workspaces) {
      const out = execFileSync(npm, ["pack", "--json", "--pack-destination", work], {
        cwd: join(root, ws),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      const [info] = JSON.parse(out) as [{ filename: string }];
      tarballs.push(join(work, info.filename));
    }
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  test("publint finds no error or warning in any package", async () => {
    for (const ws of rootPkg.workspaces) {
      const pkgDir = join(root, ws);
      const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
      const { messages } = await publint({ pkgDir, pack: "npm", level: "warning" });
      const text = messages.map((m) => `${ws}: ${formatMessage(m, pkg)}`);
      assert.deepEqual(text, [], text.join("\n"));
    }
  });

  test("the tarballs install together into an empty folder and give a working keypin command and libraries", () => {
    const app = join(work, "app");
    execFileSync("mkdir", ["-p", app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    execFileSync(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", ...tarballs], {
      cwd: app,
      stdio: ["ignore", "ignore", "pipe"],
    });

    const help = spawnSync(join(app, "node_modules", ".bin", "keypin"), ["--help"], {
      cwd: app,
      encoding: "utf8",
    });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /keypin/);

    const script = `
      const core = await import("@keypin/core");
      const node = await import("@keypin/node");
      const exp = await import("@keypin/export");
      await import("@keypin/lab");
      const { createRequire } = await import("node:module");
      createRequire(import.meta.url).resolve("@keypin/core/keypin.schema.json");
      console.log([typeof core.computePin, typeof node.createPinnedAgent, typeof exp.exportPolicy].join(","));
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: app,
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "function,function,function");
  });
});
