// Builds every workspace package that has a tsconfig.build.json with tsc, in dependency order: the root
// package.json's workspaces, each after the workspaces it depends on (so the list itself needs no order).
// Used by `npm install` (prepare), `npm test` and `npm run build`.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));
const workspaces = readJson("package.json").workspaces.map((dir) => {
  const pkg = readJson(`${dir}/package.json`);
  const deps = { ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies };
  return { dir, name: pkg.name, deps: Object.keys(deps) };
});
const byName = new Map(workspaces.map((ws) => [ws.name, ws]));
const order = [];
const visit = (ws, path) => {
  if (order.includes(ws)) return;
  if (path.includes(ws))
    throw new Error(
      `build: workspaces depend on each other in a cycle: ${[...path, ws].map((w) => w.name).join(" → ")}`,
    );
  for (const dep of ws.deps) if (byName.has(dep)) visit(byName.get(dep), [...path, ws]);
  order.push(ws);
};
for (const ws of workspaces) visit(ws, []);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

for (const { dir } of order) {
  const config = `${dir}/tsconfig.build.json`;
  if (!existsSync(config)) continue;
  // A clean dist each time: files of a renamed or deleted module must not linger into the packed package.
  rmSync(`${dir}/dist`, { recursive: true, force: true });
  const run = spawnSync(process.execPath, [tsc, "-p", config], { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`build: ${config} failed (exit ${run.status ?? run.signal}).`);
    process.exit(1);
  }
  // Browser code (a page the package serves): its own tsconfig (DOM types), then the files tsc does not emit
  // (index.html, style.css…) copied from its rootDir next to the output.
  const browser = `${dir}/tsconfig.browser.json`;
  if (!existsSync(browser)) continue;
  const page = spawnSync(process.execPath, [tsc, "-p", browser], { stdio: "inherit" });
  if (page.status !== 0) {
    console.error(`build: ${browser} failed (exit ${page.status ?? page.signal}).`);
    process.exit(1);
  }
  const { rootDir, outDir } = readJson(browser).compilerOptions;
  cpSync(`${dir}/${rootDir}`, `${dir}/${outDir}`, { recursive: true, filter: (src) => !src.endsWith(".ts") });
}

// The CLI's start-up bundle (one CommonJS file per command); bin/keypin.js falls back to dist/main.js without it.
const bundle = spawnSync(process.execPath, ["packages/cli/scripts/bundle.mjs"], { stdio: "inherit" });
if (bundle.status !== 0) {
  console.error(`build: packages/cli/scripts/bundle.mjs failed (exit ${bundle.status ?? bundle.signal}).`);
  process.exit(1);
}
