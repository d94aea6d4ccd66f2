#!/usr/bin/env node
"use strict";
// Committed entry point (CommonJS, see bin/package.json): npm links a bin only if its file exists at
// install time, so this small file stays in git and loads the built CLI: the CommonJS bundle
// (dist/cli.cjs, made by scripts/bundle.mjs, fastest start-up) when it is at least as new as the tsc
// output, else the tsc output itself (dist/main.js). A bundle older than the tsc output is stale: ignored.
const { statSync } = require("node:fs");
const { join } = require("node:path");

const dist = join(__dirname, "..", "dist");
const mtime = (file) => {
  try {
    return statSync(join(dist, file)).mtimeMs;
  } catch {
    return undefined;
  }
};
const bundleTime = mtime("cli.cjs");
const esmTime = mtime("main.js");
const useBundle = bundleTime !== undefined && (esmTime === undefined || bundleTime >= esmTime);

if (useBundle) {
  require(join(dist, "cli.cjs")).main(process.argv.slice(2));
} else {
  import("../dist/main.js").then(
    (cli) => cli.main(process.argv.slice(2)),
    (error) => {
      if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist")) {
        console.error("keypin: the CLI is not built yet. Run `npm run build` in the keypin repository.");
      } else {
        console.error(`keypin: failed to start: ${error?.message ? error.message : error}`);
      }
      process.exitCode = 2;
    },
  );
}
