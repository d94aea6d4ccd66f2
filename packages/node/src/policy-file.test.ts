import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { PolicyError } from "@keypin/core";
import { loadPolicyFile, PolicyFileError, parsePolicyText } from "./policy-file.js";

const dir = mkdtempSync(join(tmpdir(), "keypin-policy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const PIN_A = `sha256/${Buffer.alloc(32, 1).toString("base64")}`;
const PIN_B = `sha256/${Buffer.alloc(32, 2).toString("base64")}`;

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function problemsOf(path: string): Promise<PolicyFileError> {
  try {
    await loadPolicyFile(path);
  } catch (error) {
    assert.ok(error instanceof PolicyFileError, String(error));
    assert.ok(error instanceof PolicyError);
    assert.equal(error.code, "ERR_KEYPIN_POLICY");
    return error;
  }
  assert.fail("expected a PolicyFileError");
}

describe("loadPolicyFile", () => {
  test("reads a valid keypin.json into core's normalized policy, with lint warnings", async () => {
    const path = write(
      "ok.json",
      JSON.stringify(
        { domains: { "API.Example.com.": { includeSubdomains: true, pins: [PIN_A, PIN_B] } } },
        null,
        2,
      ),
    );
    const { policy, warnings } = await loadPolicyFile(path);
    assert.equal(policy.domains.length, 1);
    assert.equal(policy.domains[0]!.domain, "api.example.com");
    assert.equal(policy.domains[0]!.mode, "enforce");
    assert.ok(warnings.some((w) => w.code === "no-backup-pin"));
  });

  test("reports a trailing comma with file, line and column", async () => {
    const path = write(
      "comma.json",
      `{\n  "domains": {\n    "a.example": { "pins": ["${PIN_A}", "${PIN_B}",] }\n  }\n}\n`,
    );
    const error = await problemsOf(path);
    const [problem] = error.problems;
    assert.equal(problem?.file, path);
    assert.equal(problem?.line, 3);
    assert.equal(problem?.column, `    "a.example": { "pins": ["${PIN_A}", "${PIN_B}",`.length + 1);
    assert.match(error.message, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:\\d+`));
  });

  test("refuses comments: keypin.json is strict JSON", async () => {
    const path = write("comment.json", `{\n  // pins for prod\n  "domains": {}\n}\n`);
    const error = await problemsOf(path);
    assert.equal(error.problems[0]?.line, 2);
    assert.match(error.problems[0]!.message, /comments are not allowed/);
  });

  test("reports a duplicate key at its second occurrence, with the JSON Pointer and the first position", async () => {
    const text = `{\n  "domains": {\n    "a.example": { "pins": ["${PIN_A}"] },\n    "a.example": { "pins": ["${PIN_B}"] }\n  }\n}\n`;
    const error = await problemsOf(write("dup.json", text));
    assert.equal(error.problems.length, 1);
    const problem = error.problems[0]!;
    assert.equal(problem.path, "/domains/a.example");
    assert.equal(problem.line, 4);
    assert.equal(problem.column, 5);
    assert.match(problem.message, /duplicate key "a\.example" \(first at line 3, column 5\)/);
  });

  test("locates core's validation problems by their JSON Pointer", async () => {
    const text = `{\n  "domains": {\n    "a.example": {\n      "pins": ["${PIN_A}", "sha1/abc"]\n    }\n  }\n}\n`;
    const error = await problemsOf(write("invalid.json", text));
    const problem = error.problems.find((p) => p.path === "/domains/a.example/pins/1");
    assert.ok(problem, JSON.stringify(error.problems));
    assert.equal(problem.line, 4);
    assert.equal(problem.column, `      "pins": ["${PIN_A}", `.length + 1);
  });

  test("says which file could not be read", async () => {
    const error = await problemsOf(join(dir, "missing.json"));
    assert.match(error.message, /missing\.json.*cannot read the file/s);
  });

  test("parsePolicyText reports an empty document", () => {
    assert.throws(() => parsePolicyText("  ", { source: "stdin" }), /stdin:1:\d+/);
  });
});
