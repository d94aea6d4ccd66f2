// Issue 12, class 9: a keypin.json nested 100,000 levels deep made the policy reader overflow the stack (a
// RangeError with a stack trace). Every command that reads a policy goes through @keypin/node's loader, which
// now refuses it as an invalid policy: one line naming file:line:column, exit 2 (a usage error), no stack.
// Two spellings of one host are refused the same way.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { hasStack, makeTempDir, runCli } from "@keypin/testkit";

const temp = makeTempDir("keypin-cli-policy-input-");
after(() => temp.remove());

const PIN_A = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const PIN_B = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;

function assertOneLine(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp) {
  assert.equal(result.code, 2, `exit code (stderr: ${result.stderr.slice(0, 500)})`);
  assert.equal(result.stdout, "", "nothing on stdout");
  assert.match(result.stderr, /^keypin: /);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trimEnd().split("\n").length, 1, `one line: ${result.stderr.slice(0, 500)}`);
  assert.ok(!hasStack(result.stderr), "no stack trace without --debug");
  assert.ok(!/RangeError|Maximum call stack/.test(result.stderr));
}

describe("keypin reading a policy nested too deeply", () => {
  const deep = join(temp.dir, "deep.json");
  // Line 2 is `  "domains": ` (13 characters): with the document's `{`, the 64th `[` is level 65, at column 77.
  writeFileSync(deep, `{\n  "domains": ${"[".repeat(100_000)}`);
  const objects = join(temp.dir, "objects.json");
  writeFileSync(objects, '{"a":'.repeat(100_000));

  it("keypin check --policy deep.json prints one line with file:line:column and exits 2", async () => {
    const result = await runCli(["check", "--policy", deep]);
    assertOneLine(
      result,
      new RegExp(
        `${deep.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2:77: brackets nested deeper than 64 levels`,
      ),
    );
  });

  it("keypin check and keypin export do the same for 100,000 nested objects", async () => {
    for (const args of [
      ["check", "--policy", objects],
      ["export", "--policy", objects, "--format", "android-nsc"],
    ]) {
      assertOneLine(await runCli(args), /objects\.json:1:321: brackets nested deeper than 64 levels/);
    }
  });
});

describe("keypin reading a policy with two spellings of one host", () => {
  it("keypin check refuses it at the second key, naming both", async () => {
    const path = join(temp.dir, "twice.json");
    writeFileSync(
      path,
      JSON.stringify(
        {
          domains: {
            "api.myapp.test": { pins: [PIN_A, PIN_B] },
            "API.MyApp.test.": { pins: [PIN_A], mode: "report-only" },
          },
        },
        null,
        2,
      ),
    );
    assertOneLine(
      await runCli(["check", "--policy", path]),
      /twice\.json:\d+:\d+ \/domains\/API\.MyApp\.test\.: "API\.MyApp\.test\." is the same host as "api\.myapp\.test"/,
    );
  });
});
