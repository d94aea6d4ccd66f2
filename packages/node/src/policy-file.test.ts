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

describe("parsePolicyText on deeply nested documents", () => {
  /** The one problem a document gives, checked to be a PolicyFileError (never a RangeError). */
  function onlyProblem(text: string) {
    try {
      parsePolicyText(text, { source: "deep.json" });
    } catch (error) {
      assert.ok(error instanceof PolicyFileError, `${(error as Error).name}: ${(error as Error).message}`);
      assert.equal(error.code, "ERR_KEYPIN_POLICY");
      return error.problems[0]!;
    }
    assert.fail("expected a PolicyFileError");
  }

  test("100,000 brackets, objects or a mix give ERR_KEYPIN_POLICY at the first bracket too deep, with line and column", () => {
    const cases: [string, number, number][] = [
      ["[".repeat(100_000), 1, 65],
      ["[".repeat(100_000) + "]".repeat(100_000), 1, 65],
      ['{"a":'.repeat(100_000), 1, 64 * 5 + 1],
      ["[{".repeat(50_000), 1, 65],
      [
        `{\n  "domains": {\n    "a.example": { "pins": ["${PIN_A}"], "note": ${"[".repeat(100_000)} }\n  }\n}`,
        3,
        0,
      ],
      [`{ "domains": 1, } ${"[".repeat(100_000)}`, 1, 18 + 65],
    ];
    for (const [text, line, column] of cases) {
      const problem = onlyProblem(text);
      assert.match(problem.message, /nested deeper than 64 levels/, text.slice(0, 40));
      assert.equal(problem.line, line);
      if (column > 0) assert.equal(problem.column, column, text.slice(0, 40));
      // The position names a bracket that JSON.parse, an outside parser, also sees as structure.
      assert.ok(
        "[{".includes(text.split("\n")[line - 1]![problem.column - 1]!),
        `${problem.line}:${problem.column}`,
      );
    }
  });

  test("brackets inside strings and comments do not count; 64 levels are still read as JSON", () => {
    const inString = `{ "domains": { "a.example": { "pins": ["${"[".repeat(100_000)}"] } } }`;
    assert.match(onlyProblem(inString).message, /Not a SHA-256 pin|pin/);
    assert.match(onlyProblem(`/* ${"[".repeat(100_000)} */ {}`).message, /comments are not allowed/);
    // 64 levels: no depth problem, an ordinary one (the document is no policy), and JSON.parse agrees it is JSON.
    const sixtyFour = "[".repeat(64) + "]".repeat(64);
    assert.doesNotThrow(() => JSON.parse(sixtyFour));
    assert.match(onlyProblem(sixtyFour).message, /a keypin policy is a JSON object/);
    assert.match(onlyProblem("[".repeat(65) + "]".repeat(65)).message, /nested deeper than 64 levels/);
  });

  test("loadPolicyFile and loadPolicyFileSync give the same typed error for a deep file", async () => {
    const path = write("deep.json", "[".repeat(100_000));
    const error = await problemsOf(path);
    assert.match(error.message, /deep\.json:1:65: brackets nested deeper than 64 levels/);
    const { loadPolicyFileSync } = await import("./policy-file.js");
    assert.throws(
      () => loadPolicyFileSync(path),
      (e: unknown) => e instanceof PolicyFileError && e.problems[0]?.column === 65,
    );
  });

  test("many problems in one document are all located (each by an index, not a scan of its siblings)", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `"k${i}": 1`).join(",\n");
    const error = (() => {
      try {
        parsePolicyText(`{ "domains": { "a.example": { "pins": ["${PIN_A}"] } },\n${keys} }`);
      } catch (e) {
        return e as PolicyFileError;
      }
      assert.fail("expected a PolicyFileError");
    })();
    assert.equal(error.problems.length, 20_000);
    assert.deepEqual(
      [error.problems[0]!.line, error.problems[19_999]!.line, error.problems[19_999]!.path],
      [2, 20_001, "/k19999"],
    );
  });
});

describe("parsePolicyText on two spellings of one host", () => {
  test("refuses them with the second key's line and column", () => {
    const text = `{\n  "domains": {\n    "a.example": { "pins": ["${PIN_A}"] },\n    "A.Example.": { "pins": ["${PIN_B}"], "mode": "report-only" }\n  }\n}`;
    const problem = (() => {
      try {
        parsePolicyText(text);
      } catch (e) {
        return (e as PolicyFileError).problems;
      }
      assert.fail("expected a PolicyFileError");
    })();
    assert.deepEqual(
      problem.map((p) => [p.path, p.line, p.column]),
      [["/domains/A.Example.", 4, 19]],
    );
    assert.match(problem[0]!.message, /"A\.Example\." is the same host as "a\.example"/);
  });
});
