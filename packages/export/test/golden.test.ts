// Golden files: every format's output is compared byte for byte with a committed file.
// Regenerate on purpose with: KEYPIN_UPDATE_GOLDEN=1 node scripts/test.mjs packages/export/test/golden.test.ts
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { type ExportFormat, type ExportOptions, exportFormats, exportPolicy } from "@keypin/export";
import { defaultOut, goldenDir, goldenPolicy } from "./helpers.js";

const update = process.env.KEYPIN_UPDATE_GOLDEN === "1";

const extension: Record<ExportFormat, string> = {
  "android-nsc": "xml",
  "ios-ats": "plist",
  trustkit: "swift",
  "okhttp-kotlin": "kt",
  "okhttp-java": "java",
  "react-native": "rn.ts.txt",
  node: "node.ts.txt",
};

interface GoldenCase {
  file: string;
  policy: "keypin.json" | "keypin.rich.json";
  format: ExportFormat;
  options: ExportOptions;
}

const cases: GoldenCase[] = [
  ...exportFormats.map(
    (format): GoldenCase => ({
      file: `${format}.${extension[format]}`,
      policy: "keypin.json",
      format,
      options: { source: "keypin.json", out: defaultOut[format] },
    }),
  ),
  ...exportFormats.map(
    (format): GoldenCase => ({
      file: `rich.${format}.${extension[format]}`,
      policy: "keypin.rich.json",
      format,
      options: {
        source: "keypin.rich.json",
        out: defaultOut[format],
        allowLossy: format !== "node" && format !== "trustkit",
        ...(format === "android-nsc" ? { debugProxyCa: "certs/charles-ca.pem" } : {}),
        ...(format === "okhttp-kotlin" || format === "okhttp-java" ? { packageName: "com.myapp.net" } : {}),
      },
    }),
  ),
];

describe("golden files", () => {
  for (const c of cases) {
    it(`${c.policy} → ${c.format} matches test/golden/${c.file} exactly`, () => {
      const { content } = exportPolicy(goldenPolicy(c.policy), c.format, c.options);
      const path = new URL(c.file, goldenDir);
      if (update) writeFileSync(path, content);
      assert.ok(
        existsSync(path),
        `missing golden file ${c.file}: run with KEYPIN_UPDATE_GOLDEN=1 to create it`,
      );
      assert.equal(content, readFileSync(path, "utf8"));
    });
  }
});
