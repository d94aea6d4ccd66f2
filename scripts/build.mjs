// Builds every package with tsc, in dependency order (core first, the CLI last).
// Used by `npm install` (prepare), `npm test` and `npm run build`.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const order = ["core", "node", "export", "expo", "lab", "cli"];
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

for (const pkg of order) {
  const config = `packages/${pkg}/tsconfig.build.json`;
  if (!existsSync(config)) continue;
  // A clean dist each time: files of a renamed or deleted module must not linger into the packed package.
  rmSync(`packages/${pkg}/dist`, { recursive: true, force: true });
  const run = spawnSync(process.execPath, [tsc, "-p", config], { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`build: ${config} failed (exit ${run.status ?? run.signal}).`);
    process.exit(1);
  }
}

// The CLI's start-up bundle (one CommonJS file per command); bin/keypin.js falls back to dist/main.js without it.
const bundle = spawnSync(process.execPath, ["packages/cli/scripts/bundle.mjs"], { stdio: "inherit" });
if (bundle.status !== 0) {
  console.error(`build: packages/cli/scripts/bundle.mjs failed (exit ${bundle.status ?? bundle.signal}).`);
  process.exit(1);
}
