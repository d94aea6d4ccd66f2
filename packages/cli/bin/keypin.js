#!/usr/bin/env node
// Committed entry point: npm links a bin only if its file exists at install time,
// so this small file stays in git and loads the built CLI.
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
