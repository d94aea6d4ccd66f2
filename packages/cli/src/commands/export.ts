import { isAbsolute, relative, resolve, sep } from "node:path";
import {
  checkDebugProxyCa,
  exportFormatDescriptor,
  exportFormatDescriptors,
  exportFormats,
  exportPolicy,
  type FormatOption,
  formatOptions,
  LossyExportError,
  optionFlags,
} from "@keypin/export";
import { defineCommand } from "../command.js";
import { codeOf, FailureError, isCliError, UsageError } from "../errors.js";
import { readPolicy } from "../lib/policy-file.js";
import { describeFsError, readInput } from "../lib/read-input.js";
import { refuseOutputOverInput, writeOutputFile } from "../lib/write-output.js";
import { colorsFor, printError } from "../output.js";

const name = "keypin export";

/** A path as the header and the notes show it: inside the working directory, relative to it with forward
 * slashes, so that `--out ./a/b.xml`, `--out a/b.xml` and its absolute path generate the same file (and
 * `--check` agrees with all three); an absolute path outside it stays absolute (not `../../…`). */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), resolve(path));
  const outside = rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  if (outside && isAbsolute(path)) return resolve(path).split(sep).join("/");
  return (rel === "" ? path : rel).split(sep).join("/");
}

/** Refuses a format-specific flag that the format's descriptor does not take. */
function checkFormatOptions(format: string, given: Record<FormatOption, boolean>): void {
  const descriptor = exportFormatDescriptor(format);
  for (const option of formatOptions) {
    if (!given[option] || descriptor?.options.includes(option)) continue;
    const takers = exportFormatDescriptors.filter((f) => f.options.includes(option)).map((f) => f.name);
    const where =
      takers.length === 1
        ? `--format ${takers[0]}`
        : `${takers.slice(0, -1).join(", ")} and ${takers.at(-1)}`;
    throw new UsageError(`--${optionFlags[option].long} only applies to ${where} (got ${format})`);
  }
}

/** Where two texts first differ, by line (1-based), with both lines. */
function firstDifference(
  expected: string,
  actual: string,
): { line: number; expected: string; actual: string } {
  const a = expected.split("\n");
  const b = actual.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return { line: i + 1, expected: a[i] ?? "(end of file)", actual: b[i] ?? "(end of file)" };
  }
  return { line: a.length, expected: "", actual: "" };
}

function shorten(text: string): string {
  const oneLine = JSON.stringify(text);
  return oneLine.length > 90 ? `${oneLine.slice(0, 87)}..."` : oneLine;
}

export default defineCommand({
  meta: { name: "export" },
  usage:
    "--format FORMAT [--policy FILE] [--out FILE] [--allow-lossy] [--debug-proxy-ca FILE | --audit-ca FILE] [--allow-cleartext] [--package NAME] [--check]",
  examples: [
    "keypin export --format android-nsc --out app/src/main/res/xml/network_security_config.xml",
    "keypin export --format ios-ats > pinning.plist",
    "keypin export --format okhttp-kotlin --package com.myapp.net --out app/src/main/java/com/myapp/net/PinningConfig.kt",
    "keypin export --check --format android-nsc --out app/src/main/res/xml/network_security_config.xml   # in CI",
  ],
  exitCodes: {
    0: "written (or, with --check, FILE is what the policy generates)",
    1: "--check: FILE differs from what the policy generates today (or is missing)",
    2: "bad input: unknown format, invalid policy, or a policy the platform cannot express without --allow-lossy",
  },
  args: {
    format: {
      type: "string",
      alias: "f",
      valueHint: "FORMAT",
      description: `one of ${exportFormats.join(", ")}`,
      required: true,
      choices: exportFormats,
    },
    policy: {
      type: "string",
      alias: "p",
      valueHint: "FILE",
      description: "the policy file",
      default: "keypin.json",
    },
    out: {
      type: "string",
      alias: "o",
      valueHint: "FILE",
      description: "write to FILE instead of stdout (with --check: the file to compare)",
    },
    "allow-lossy": {
      type: "boolean",
      alias: "L",
      description:
        "write even when the platform cannot express the policy exactly; every difference is listed in the file and on stderr (dangerous: read them)",
    },
    "debug-proxy-ca": {
      type: "string",
      alias: "d",
      valueHint: "FILE",
      description:
        "android-nsc: trust this proxy CA in debug builds only (debug-overrides), e.g. Charles or mitmproxy",
    },
    "audit-ca": {
      type: "string",
      alias: "A",
      valueHint: "FILE",
      description:
        'android-nsc: trust the keypin audit CA in debug builds only, keeping the pins (overridePins="false"), so keypin audit can tell pinned hosts',
    },
    "allow-cleartext": {
      type: "boolean",
      alias: "C",
      description:
        'android-nsc: write <base-config cleartextTrafficPermitted="true"/> (Android ignores android:usesCleartextTraffic once the file exists)',
    },
    package: {
      type: "string",
      alias: "P",
      valueHint: "NAME",
      description: "okhttp-kotlin/okhttp-java: the package line to write",
    },
    check: {
      type: "boolean",
      description: "do not write: exit 1 when --out FILE differs from what the policy generates today",
    },
  },
  async run({ args }) {
    const { format, policy: source, out, package: packageName, check } = args;
    const debugProxyCa = args["debug-proxy-ca"];
    const auditCa = args["audit-ca"];
    const allowLossy = args["allow-lossy"] === true;
    const allowCleartext = args["allow-cleartext"] === true;
    checkFormatOptions(format, {
      debugProxyCa: debugProxyCa !== undefined,
      auditCa: auditCa !== undefined,
      cleartextTrafficPermitted: allowCleartext,
      packageName: packageName !== undefined,
    });
    if (check && out === undefined) {
      throw new UsageError(
        `\`${name} --check\` needs --out FILE: the generated file to compare with the policy`,
      );
    }
    if (debugProxyCa !== undefined) {
      checkDebugProxyCa(
        readInput(debugProxyCa, "CA certificate (PEM or DER) for --debug-proxy-ca"),
        debugProxyCa,
      );
    }

    if (auditCa !== undefined) {
      checkDebugProxyCa(
        readInput(auditCa, "the keypin audit CA certificate (PEM or DER) for --audit-ca"),
        auditCa,
      );
    }

    const { policy, warnings } = await readPolicy(source);
    // Before anything is printed or written: an --out that is (or links to) the policy or a CA file would destroy it.
    if (out !== undefined && !check) refuseOutputOverInput(out);
    let result: ReturnType<typeof exportPolicy>;
    try {
      result = exportPolicy(policy, format, {
        allowLossy,
        source: displayPath(source),
        ...(out !== undefined ? { out: displayPath(out) } : {}),
        ...(debugProxyCa !== undefined ? { debugProxyCa: displayPath(debugProxyCa) } : {}),
        ...(auditCa !== undefined ? { auditCa: displayPath(auditCa) } : {}),
        ...(packageName !== undefined ? { packageName } : {}),
        ...(allowCleartext ? { cleartextTrafficPermitted: true } : {}),
      });
    } catch (error) {
      // The library names its option (allowLossy); here it is a flag.
      if (error instanceof LossyExportError) {
        throw new UsageError(error.messageFor(`--${optionFlags.allowLossy.long}`), { cause: error });
      }
      throw error;
    }

    const c = colorsFor(process.stderr);
    const err = printError;
    if (check) {
      // Only the verdict: the differences are in the file's header, and lint is `keypin check`'s job.
      const file = out as string;
      let actual: string;
      try {
        actual = new TextDecoder().decode(
          readInput(file, `${format} file to compare (--check)`, { allowEmpty: true }),
        );
      } catch (error) {
        // A missing or unreadable file is a difference (exit 1); a FIFO, a device or a huge file is bad input.
        const cause = (error as { cause?: unknown }).cause;
        if (codeOf(cause) === undefined) throw error;
        throw new FailureError(
          `${file}: ${describeFsError(cause)}, so it is not what ${source} generates; run the same command without --check to write it`,
          { cause },
        );
      }
      if (actual !== result.content) {
        const at = firstDifference(result.content, actual);
        throw new FailureError(
          `${file} is not what ${source} generates today: first difference at line ${at.line}: expected ${shorten(at.expected)}, found ${shorten(at.actual)}; regenerate with the same command without --check`,
        );
      }
      process.stdout.write(`${file} is up to date with ${source}\n`);
      return;
    }

    for (const w of warnings) err(`${c.yellow("warning:")} ${source}#${w.path}: ${w.message}`);
    for (const d of result.differences) err(`${c.yellow("difference (--allow-lossy):")} ${d}`);
    for (const note of result.notes) err(`${c.dim("note:")} ${note}`);
    if (out === undefined) {
      process.stdout.write(result.content);
      return;
    }
    try {
      writeOutputFile(out, result.content, { createParents: true });
    } catch (error) {
      if (isCliError(error)) throw error;
      throw new UsageError(
        `${out}: ${describeFsError(error)} (code ${codeOf(error) ?? "unknown"}); cannot write the export`,
        {
          cause: error,
        },
      );
    }
    err(`wrote ${out} (${format}, from ${source})`);
  },
});
