#!/usr/bin/env node
"use strict";
// Committed entry point (CommonJS, see bin/package.json): npm links a bin only if its file exists at install time, so this small file
// stays in git and loads the built CLI: the CommonJS bundle (dist/cli.cjs, fastest start-up) when the
// build made one, else the tsc output (dist/main.js).
let cli;
try {
  cli = require("../dist/cli.cjs");
} catch (error) {
  if (!(error && error.code === "MODULE_NOT_FOUND" && String(error.message).includes("cli.cjs"))) throw error;
}
if (cli) {
  cli.main(process.argv.slice(2));
} else {
  import("../dist/main.js").then(
    (esm) => esm.main(process.argv.slice(2)),
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
