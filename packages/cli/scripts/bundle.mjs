// Bundles the built CLI (dist/*.js from tsc) into CommonJS files for fast start-up:
//   dist/cli.cjs                 the framework (argument parsing, help, errors, the command table)
//   dist/cli-commands/<name>.cjs one file per command the table marks `bundled`, with @keypin/core and
//                                @keypin/node inlined and tree-shaken
// Node loads a few CommonJS files much faster than a tree of ES modules (no ESM loader, no per-file
// resolution), which is most of what `keypin hash` costs over a bare `node -e ""`.
// bin/keypin.js uses these when dist/cli.cjs is at least as new as dist/main.js (the tsc output), and
// falls back to dist/main.js otherwise. Commands the table does not mark `bundled` (export, lab) stay
// ES modules in dist/commands (their packages load lazily anyway).
// Run after `tsc -p packages/cli/tsconfig.build.json`: node packages/cli/scripts/bundle.mjs
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
// Inlined: our own packages and the small parser @keypin/node reads keypin.json with (so the bundle does
// not depend on how npm nested it). Kept external: the heavy ones, loaded only by commands that need them.
const bundled = new Set(["@keypin/core", "@keypin/node"]);
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => !bundled.has(name));
external.push("undici");

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  external,
  logLevel: "warning",
  // Resolve @keypin/* through node_modules to their built dist (not the repository's tsconfig paths to src).
  tsconfigRaw: "{}",
  mainFields: ["module", "main"],
  legalComments: "none",
  // main.ts reads package.json through import.meta.url only outside the bundle (the bundle has __KEYPIN_VERSION__).
  logOverride: { "empty-import-meta": "silent" },
  define: { __KEYPIN_BUNDLE__: "true", __KEYPIN_VERSION__: JSON.stringify(pkg.version) },
};

const tableFile = join(root, "dist", "command-table.js");
if (!existsSync(tableFile)) {
  console.error("bundle: dist/command-table.js is missing; run tsc for packages/cli first.");
  process.exit(1);
}
const { commandTable } = await import(pathToFileURL(tableFile).href);
const commands = commandTable.filter((c) => c.bundled).map((c) => c.name);
for (const name of ["main", ...commands.map((c) => `commands/${c}`)]) {
  if (!existsSync(join(root, "dist", `${name}.js`))) {
    console.error(`bundle: dist/${name}.js is missing; run tsc for packages/cli first.`);
    process.exit(1);
  }
}
await build({
  ...common,
  entryPoints: [join(root, "dist", "main.js")],
  outfile: join(root, "dist", "cli.cjs"),
});
await build({
  ...common,
  entryPoints: Object.fromEntries(commands.map((c) => [c, join(root, "dist", "commands", `${c}.js`)])),
  outdir: join(root, "dist", "cli-commands"),
  outExtension: { ".js": ".cjs" },
});
