// Golden files: every format's output is compared byte for byte with a committed file.
// Regenerate on purpose with: KEYPIN_UPDATE_GOLDEN=1 node scripts/test.mjs packages/export/test/golden.test.ts
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  type ExportFormat,
  type ExportOptions,
  exportFormatDescriptors,
  exportPolicy,
  LossyExportError,
} from "@keypin/export";
import { goldenDir, goldenPolicy } from "./helpers.js";

const update = process.env.KEYPIN_UPDATE_GOLDEN === "1";

/** A format's golden file: named after its default output's extension (TypeScript as .ts.txt, kept out of tsc). */
const extension: Partial<Record<ExportFormat, string>> = { "react-native": "rn.ts.txt", node: "node.ts.txt" };
const extensionOf = (format: (typeof exportFormatDescriptors)[number]): string =>
  extension[format.name] ?? format.defaultOut.replace(/^.*\./, "").replace(/^ts$/, "ts.txt");

interface GoldenCase {
  file: string;
  policy: "keypin.json" | "keypin.rich.json";
  format: ExportFormat;
  options: ExportOptions;
}

/** Whether the policy needs allowLossy for the format (the rich golden files are lossy wherever the platform is). */
function isLossy(policy: "keypin.json" | "keypin.rich.json", format: ExportFormat): boolean {
  try {
    exportPolicy(goldenPolicy(policy), format);
    return false;
  } catch (error) {
    if (error instanceof LossyExportError) return true;
    throw error;
  }
}

const cases: GoldenCase[] = [
  ...exportFormatDescriptors.map(
    (format): GoldenCase => ({
      file: `${format.name}.${extensionOf(format)}`,
      policy: "keypin.json",
      format: format.name,
      options: { source: "keypin.json", out: format.defaultOut },
    }),
  ),
  // Every option the format takes, with lossy export allowed where the rich policy needs it.
  ...exportFormatDescriptors.map(
    (format): GoldenCase => ({
      file: `rich.${format.name}.${extensionOf(format)}`,
      policy: "keypin.rich.json",
      format: format.name,
      options: {
        source: "keypin.rich.json",
        out: format.defaultOut,
        allowLossy: isLossy("keypin.rich.json", format.name),
        ...(format.options.includes("debugProxyCa") ? { debugProxyCa: "certs/charles-ca.pem" } : {}),
        ...(format.options.includes("packageName") ? { packageName: "com.myapp.net" } : {}),
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
