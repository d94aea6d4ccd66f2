// Runs the test files with Node's own test runner, TypeScript loaded by tsx.
//   node scripts/test.mjs                 unit and integration tests (npm test)
//   node scripts/test.mjs --interop       tests against outside tools (npm run test:interop)
//   node scripts/test.mjs packages/core   only the files under a path
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";

const args = process.argv.slice(2);
const interop = args.includes("--interop");
const filters = args.filter((a) => !a.startsWith("--"));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

// "packages/expo" selects packages/expo/… but not packages/export/….
const isUnder = (file, path) => {
  const dir = path.replace(/[\\/]+$/, "");
  return file === dir || file.startsWith(dir + sep) || file.startsWith(dir + "/");
};
const isInterop = (file) => file.split(sep).includes("interop");
const files = [...walk("packages", []), ...walk("bench", []), ...walk("test", [])]
  .filter((f) => isInterop(f) === interop)
  .filter((f) => filters.length === 0 || filters.some((p) => isUnder(f, p)))
  .sort();

if (files.length === 0) {
  console.error("test: no test files matched.");
  process.exit(1);
}

const run = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...files],
  { stdio: "inherit", env: { ...process.env, NODE_OPTIONS: "" } },
);
process.exit(run.status ?? 1);
