import type { LintFinding, Policy, PolicyProblem } from "@keypin/core";
import { parsePolicyText } from "@keypin/node";
import { UsageError } from "../errors.js";
import { readInput } from "./read-input.js";

/**
 * Loads and validates a keypin.json with `@keypin/node`'s loader. Every problem (missing or empty file,
 * JSON syntax with line and column, duplicate keys, unknown fields, bad pins, with their JSON paths) is
 * a `UsageError` (exit 2) on one line that names the file. The file is read once, by `readInput` (a regular
 * file of at most 16 MiB, or stdin for `-`), and remembered as an input of the command.
 *
 * @example
 * const { policy, warnings } = await readPolicy("keypin.json");
 */
export async function readPolicy(path: string): Promise<{ policy: Policy; warnings: LintFinding[] }> {
  const { policy, warnings } = await readPolicyWithText(path);
  return { policy, warnings };
}

/**
 * `readPolicy`, with the file's text as it was read (for `keypin import --merge`, which keeps the file's own
 * form), so that the file is read once.
 *
 * @example
 * const { policy, text } = await readPolicyWithText("keypin.json");
 */
export async function readPolicyWithText(
  path: string,
): Promise<{ policy: Policy; warnings: LintFinding[]; text: string }> {
  // Decoded as @keypin/node's loadPolicyFile decodes a file (readFile's "utf8"), so both take the same files.
  const text = Buffer.from(readInput(path, "keypin.json policy; `keypin init` writes one")).toString("utf8");
  try {
    return { ...parsePolicyText(text, { source: path }), text };
  } catch (error) {
    const problems = (error as { problems?: (PolicyProblem & { line?: number; column?: number })[] })
      .problems;
    let message: string;
    if (Array.isArray(problems) && problems.length > 0) {
      // A JSON syntax error cascades: the first problems are the ones worth reading.
      const shown = problems.slice(0, 3).map((p) => {
        const where = typeof p.line === "number" ? `${path}:${p.line}:${p.column ?? 1}` : path;
        return `${where}${p.path ? ` ${p.path}` : ""}: ${p.message}`;
      });
      message = `${shown.join("; ")}${problems.length > 3 ? `; and ${problems.length - 3} more` : ""}`;
    } else {
      message = error instanceof Error ? error.message : String(error);
    }
    throw new UsageError(message.includes(path) ? message : `${path}: ${message}`, { cause: error });
  }
}
