// keypin reads Node's CA store flags from process.execArgv and the start-up NODE_OPTIONS. The oracle is Node's
// own option parser (internal/options, with --expose-internals), run on the same flags.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { type CaStore, caStoreOf, splitNodeOptions, startupEnvironment } from "./node-trust.js";

const hasSystemFlag = process.allowedNodeEnvironmentFlags.has("--use-system-ca");

/** The store Node itself selects for these flags, or "refused" when it does not start. */
function nodeStore(nodeOptions: string, argv: string[]): CaStore | "refused" {
  const probe =
    "const { getOptionValue } = require('internal/options');" +
    "const system = process.allowedNodeEnvironmentFlags.has('--use-system-ca') && getOptionValue('--use-system-ca');" +
    "console.log(getOptionValue('--use-openssl-ca') ? 'openssl' : system ? 'system' : 'bundled')";
  const run = spawnSync(process.execPath, ["--expose-internals", ...argv, "-e", probe], {
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
    encoding: "utf8",
  });
  return run.status === 0 ? (run.stdout.trim() as CaStore) : "refused";
}

describe("caStoreOf", () => {
  const cases: [string, string[]][] = [
    ["", []],
    ["", ["--use-openssl-ca"]],
    ["", ["--use_openssl_ca"]],
    ["--use-openssl-ca", []],
    ['"--use-openssl-ca"', []],
    ['--title="a b" --use-openssl-ca', []],
    ["--use-openssl-ca", ["--no-use-openssl-ca"]],
    ["", ["--use-bundled-ca"]],
    ["--no-use-openssl-ca", ["--use-openssl-ca"]],
    ...(hasSystemFlag
      ? ([
          ["", ["--use-system-ca"]],
          ["--use-system-ca", ["--use-openssl-ca"]],
          ["--use-system-ca", ["--no-use-system-ca"]],
        ] as [string, string[]][])
      : []),
  ];
  for (const [nodeOptions, argv] of cases) {
    it(`agrees with Node's parser for NODE_OPTIONS=${JSON.stringify(nodeOptions)} ${argv.join(" ")}`, () => {
      assert.equal(caStoreOf(splitNodeOptions(nodeOptions), argv), nodeStore(nodeOptions, argv));
    });
  }

  it("Node refuses --use-openssl-ca with --use-bundled-ca, so keypin never has to choose", () => {
    assert.equal(nodeStore("--use-openssl-ca", ["--use-bundled-ca"]), "refused");
  });
});

describe("startupEnvironment", () => {
  it("is the environment of exec, not process.env (read from /proc on Linux, where CI runs)", () => {
    assert.notEqual(startupEnvironment(), null, "/proc/self/environ is readable");
    const name = "KEYPIN_TRUST_TEST_VARIABLE";
    const before = startupEnvironment()?.get(name);
    process.env[name] = "set at run time";
    try {
      assert.equal(before, undefined);
      assert.equal(startupEnvironment()?.get(name), undefined);
      assert.equal(startupEnvironment()?.get("PATH"), process.env["PATH"]);
    } finally {
      delete process.env[name];
    }
  });
});
