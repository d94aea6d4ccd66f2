import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseArgs, positiveInteger, stringList } from "./args.js";
import { UsageError } from "./errors.js";

const defs = {
  json: { type: "boolean" },
  ca: { type: "string", repeatable: true },
  out: { type: "string" },
  format: { type: "string", choices: ["xml", "plist"] },
  timeout: { type: "string", default: "10000" },
  force: { type: "boolean", alias: "f" },
  target: { type: "positional", required: false },
} as const;

describe("argument parsing", () => {
  it("collects repeated string options into a list and fills positionals in order", () => {
    const args = parseArgs(["--ca", "a.pem", "host", "--ca=b.pem", "--json"], defs, "keypin inspect");
    assert.deepEqual(stringList(args.ca), ["a.pem", "b.pem"]);
    assert.equal(args.target, "host");
    assert.deepEqual(args._, ["host"]);
    assert.equal(args.json, true);
    assert.equal(args.timeout, "10000");
  });

  it("gives a repeatable option as a list even when it is absent, and refuses a second value of any other", () => {
    const none: string[] = parseArgs(["--json"], defs, "keypin inspect").ca;
    assert.deepEqual(none, []);
    assert.deepEqual(parseArgs(["--ca", "a.pem"], defs, "keypin inspect").ca, ["a.pem"]);
    assert.equal(parseArgs(["--out", "a"], defs, "keypin backup").out, "a");
    for (const argv of [
      ["--out", "a", "--out", "b"],
      ["--out=a", "--out", "a"],
    ]) {
      assert.throws(
        () => parseArgs(argv, defs, "keypin backup"),
        (error: unknown) =>
          error instanceof UsageError &&
          error.exitCode === 2 &&
          error.message === "option --out of `keypin backup` is given more than once",
      );
    }
  });

  it("accepts only the listed choices, naming them", () => {
    // Typed too: tsc checks that the value is the union of the choices.
    const format: "xml" | "plist" | undefined = parseArgs(
      ["--format", "plist"],
      defs,
      "keypin export",
    ).format;
    assert.equal(format, "plist");
    assert.throws(
      () => parseArgs(["--format=json"], defs, "keypin export"),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === 'unknown format "json" for `keypin export`; formats: xml, plist',
    );
  });

  it("refuses an unknown option, naming it and the command", () => {
    assert.throws(
      () => parseArgs(["--insecure"], defs, "keypin inspect"),
      (error: unknown) =>
        error instanceof UsageError &&
        error.exitCode === 2 &&
        error.message === "unknown option --insecure for `keypin inspect` (see `keypin help inspect`)",
    );
    assert.throws(() => parseArgs(["-x"], defs, "keypin inspect"), /unknown option -x/);
    assert.throws(() => parseArgs(["--no-ca"], defs, "keypin inspect"), /unknown option --no-ca/);
  });

  it("refuses a string option without its value, and a value given to a boolean", () => {
    assert.throws(
      () => parseArgs(["--ca"], defs, "keypin inspect"),
      /--ca of `keypin inspect` needs a value/,
    );
    assert.throws(() => parseArgs(["--ca", "--json"], defs, "keypin inspect"), /needs a value/);
    assert.throws(() => parseArgs(["--json=yes"], defs, "keypin inspect"), /takes no value/);
  });

  it("accepts aliases, --no- for booleans, and treats everything after -- as positional", () => {
    const args = parseArgs(["-f", "--no-json", "--", "--ca"], defs, "keypin init");
    assert.equal(args.force, true);
    assert.equal(args.json, false);
    assert.deepEqual(args._, ["--ca"]);
  });

  it("keeps - (stdin) as a positional", () => {
    assert.deepEqual(parseArgs(["-"], defs, "keypin hash")._, ["-"]);
  });

  it("accepts only positive whole numbers for counts and timeouts", () => {
    assert.equal(positiveInteger("250", "--timeout", "keypin check"), 250);
    for (const bad of ["0", "-1", "1.5", "soon", ""]) {
      assert.throws(() => positiveInteger(bad, "--timeout", "keypin check"), UsageError, bad);
    }
  });
});
