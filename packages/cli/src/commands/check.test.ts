import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LINT_PLATFORMS, lintPolicy, parsePolicy } from "@keypin/core";
import { exportFormats } from "@keypin/export";
import { UsageError } from "../errors.js";
import { readLintPlatforms } from "./check.js";

/**
 * Export formats whose platform adds nothing to keypin's own lint, each with why. A new format goes either into
 * core's LINT_PLATFORMS (with its rules, or none, as `node`) or here; `check --platforms` accepts it either way.
 */
const notLintRelevant: Readonly<Record<string, string>> = {};

describe("keypin check --platforms", () => {
  it("knows every export format: each is a lint platform or is listed as not lint-relevant", () => {
    for (const format of exportFormats) {
      const lint = (LINT_PLATFORMS as readonly string[]).includes(format);
      assert.ok(
        lint !== format in notLintRelevant,
        `${format}: ${lint ? "a lint platform and also listed as not lint-relevant" : "not a lint platform: add its rules to core's platform-lint.ts (LINT_PLATFORMS), or list it in notLintRelevant with why"}`,
      );
    }
    for (const platform of LINT_PLATFORMS) {
      assert.ok(
        (exportFormats as readonly string[]).includes(platform),
        `${platform}: lint platforms are named as \`keypin export --format\` names them`,
      );
    }
    for (const format of Object.keys(notLintRelevant)) {
      assert.ok((exportFormats as readonly string[]).includes(format), `${format} is an export format`);
    }
  });

  it("accepts every export format's name, the lint platforms among them in their order, none without the option", () => {
    assert.equal(readLintPlatforms([]), undefined);
    assert.equal(readLintPlatforms(["", " , "]), undefined);
    assert.deepEqual(readLintPlatforms([exportFormats.join(",")]), [...LINT_PLATFORMS]);
    assert.deepEqual(readLintPlatforms(["node, ios-ats", "android-nsc"]), ["android-nsc", "ios-ats", "node"]);
  });

  it("accepts a format lint has no rules for, which adds no finding", () => {
    const formats = [...exportFormats, "new-format"];
    assert.deepEqual(readLintPlatforms(["new-format"], formats), []);
    assert.deepEqual(readLintPlatforms(["new-format,trustkit"], formats), ["trustkit"]);
    const { policy } = parsePolicy({
      domains: { "api.myapp.com": { pins: [{ pin: `sha256/${"A".repeat(43)}=`, role: "leaf" }] } },
    });
    assert.deepEqual(
      lintPolicy(policy, { platforms: readLintPlatforms(["new-format"], formats)! }).filter(
        (f) => f.platform,
      ),
      [],
    );
  });

  it("refuses a name that is no export format, listing the formats", () => {
    assert.throws(
      () => readLintPlatforms(["ios-ats,windows-phone"]),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message ===
          `--platforms: unknown platform "windows-phone"; the platforms are ${exportFormats.join(", ")} (comma-separated)`,
    );
  });
});
