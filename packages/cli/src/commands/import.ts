import { existsSync } from "node:fs";
import {
  compareSources,
  type Difference,
  formatPlace,
  ImportError,
  type ImportedSource,
  importFile,
  mergeSources,
} from "@keypin/import";
import { singleString } from "../args.js";
import { defineCommand } from "../command.js";
import { codeOf, FailureError, isCliError, UsageError } from "../errors.js";
import { readPolicy, readPolicyWithText } from "../lib/policy-file.js";
import { describeFsError, readInput } from "../lib/read-input.js";
import { refuseOutputOverInput, writeOutputFile } from "../lib/write-output.js";
import { colorsFor, formatCount, printError, printJson } from "../output.js";

const name = "keypin import";
const expected =
  "Android network security config, iOS Info.plist (XML or binary), OkHttp Kotlin/Java or React Native source";

/** Reads every file; a file keypin cannot read is one usage-error line (exit 2) naming the place. */
function readSources(files: readonly string[]): ImportedSource[] {
  const sources: ImportedSource[] = [];
  for (const file of files) {
    if (file === "-")
      throw new UsageError(`\`${name}\` reads files, not stdin (the format is told by the file)`);
    const bytes = readInput(file, expected);
    try {
      sources.push(...importFile(file, bytes).sources);
    } catch (error) {
      if (error instanceof ImportError) throw new UsageError(error.message, { cause: error });
      throw error;
    }
  }
  return sources;
}

function describeTaken(source: ImportedSource): string[] {
  const lines = [
    `${source.file} (${source.platform}): ${source.domains.length} domain${source.domains.length === 1 ? "" : "s"}`,
  ];
  for (const d of source.domains) {
    const extra = [
      `${d.pins.length} pin${d.pins.length === 1 ? "" : "s"}`,
      d.includeSubdomains ? "includeSubdomains" : undefined,
      d.expires !== undefined ? `expires ${d.expires}` : undefined,
      d.mode === "report-only" ? "report-only" : undefined,
      d.reportUris.length > 0
        ? `${d.reportUris.length} report URI${d.reportUris.length === 1 ? "" : "s"}`
        : undefined,
    ].filter((x) => x !== undefined);
    lines.push(`  took ${d.domain} (${extra.join(", ")}) at ${formatPlace(d.place)}`);
  }
  const label = { changed: "changed", dropped: "not carried over", unreadable: "not carried over" } as const;
  for (const f of source.findings)
    lines.push(
      `  ${f.kind === "not-applied" ? `not applied by ${source.platform}` : label[f.kind]}: ${formatPlace(f.place)}: ${f.message}`,
    );
  return lines;
}

function jsonReport(sources: ImportedSource[], differences: Difference[], extra: Record<string, unknown>) {
  return {
    ...extra,
    sources: sources.map((s) => ({
      file: s.file,
      format: s.format,
      platform: s.platform,
      domains: s.domains,
      findings: s.findings,
    })),
    differences,
  };
}

export default defineCommand({
  meta: { name: "import" },
  usage: "[--out keypin.json] [--merge] [--check] [--json] <file…>",
  examples: [
    "keypin import app/src/main/res/xml/network_security_config.xml ios/App/Info.plist",
    "keypin import --merge app/src/main/java/com/myapp/net/Pinning.kt",
    "keypin import --check app/src/main/res/xml/network_security_config.xml ios/App/Info.plist   # in CI",
  ],
  exitCodes: {
    0: "written (or, with --check, the files and keypin.json agree)",
    1: "--check: the files pin differently (from each other or from keypin.json)",
    2: "a file keypin cannot read (missing, not a known format, not well-formed), or keypin.json exists without --merge",
  },
  args: {
    out: {
      type: "string",
      alias: "o",
      valueHint: "FILE",
      description: "the keypin.json to write, update (--merge) or compare (--check); default keypin.json",
    },
    merge: {
      type: "boolean",
      description: "update the existing keypin.json: add the imported domains and pins",
    },
    check: {
      type: "boolean",
      description: "write nothing: exit 1 when the files pin differently from each other or from keypin.json",
    },
    json: { type: "boolean", description: "print one JSON object: { sources, differences, wrote? }" },
  },
  async run({ args }) {
    const a = args as Record<string, string | boolean | string[] | undefined> & { _: string[] };
    const files = a._;
    if (files.length === 0)
      throw new UsageError(`\`${name}\` needs at least one file (see \`keypin help import\`)`);
    const outGiven = singleString(a.out, "--out", name);
    const out = outGiven ?? "keypin.json";
    const check = a.check === true;
    const merge = a.merge === true;
    if (check && merge)
      throw new UsageError("--check and --merge do not go together: --check writes nothing");
    const sources = readSources(files);
    const c = colorsFor(process.stderr);
    const err = printError;

    if (check) {
      const policy =
        existsSync(out) || outGiven !== undefined
          ? { policy: (await readPolicy(out)).policy, file: out }
          : undefined;
      const differences = compareSources(sources, policy);
      if (a.json === true) printJson(jsonReport(sources, differences, { compared: policy?.file ?? null }));
      else {
        for (const d of differences) err(`${c.red("difference:")} ${d.message}`);
        if (differences.length === 0) {
          process.stdout.write(
            `${files.length} file${files.length === 1 ? "" : "s"}${policy ? ` and ${policy.file}` : ""} pin the same\n`,
          );
        }
      }
      if (differences.length > 0) {
        throw new FailureError(
          `${differences.length} difference${differences.length === 1 ? "" : "s"} between ${[...(policy ? [policy.file] : []), ...files].join(", ")}`,
        );
      }
      return;
    }

    if (existsSync(out) && !merge) {
      throw new UsageError(
        `${out} already exists: pass --merge to update it, or --out FILE to write another file`,
      );
    }
    const base = merge && existsSync(out) ? await readBase(out) : undefined;
    // An --out that is (or links to) one of the files imported would destroy it; --merge rewrites only its base.
    refuseOutputOverInput(out, base ? { replaces: out } : {});
    let result: ReturnType<typeof mergeSources>;
    try {
      result = mergeSources(sources, base);
    } catch (error) {
      if (error instanceof ImportError) throw new UsageError(error.message, { cause: error });
      throw error;
    }
    try {
      writeOutputFile(out, `${JSON.stringify(result.policyFile, null, 2)}\n`, {
        createParents: true,
        ...(base ? { replaces: out } : {}),
      });
    } catch (error) {
      if (isCliError(error)) throw error;
      throw new UsageError(
        `${out}: ${describeFsError(error)} (code ${codeOf(error) ?? "unknown"}); cannot write the policy`,
        {
          cause: error,
        },
      );
    }
    if (a.json === true) {
      printJson(jsonReport(sources, result.differences, { wrote: out }));
      return;
    }
    for (const s of sources) for (const line of describeTaken(s)) err(line);
    for (const d of result.differences) err(`${c.yellow("difference:")} ${d.message}`);
    err(
      `${base ? "updated" : "wrote"} ${out} (${formatCount(Object.keys(result.policyFile.domains).length, "domain")})`,
    );
  },
});

async function readBase(out: string) {
  const { policy, text } = await readPolicyWithText(out);
  const policyFile = JSON.parse(text) as import("@keypin/core").PolicyFile;
  return { file: out, policy, policyFile };
}
