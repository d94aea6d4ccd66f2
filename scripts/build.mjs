// Builds every package with tsc, in dependency order (core first, the CLI last).
// Used by `npm install` (prepare), `npm test` and `npm run build`.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

const order = ["core", "node", "export", "expo", "lab", "cli"];
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

for (const pkg of order) {
  const config = `packages/${pkg}/tsconfig.build.json`;
  if (!existsSync(config)) continue;
  const run = spawnSync(process.execPath, [tsc, "-p", config], { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`build: ${config} failed (exit ${run.status ?? run.signal}).`);
    process.exit(1);
  }
}
