import type { LintFinding, Policy, PolicyProblem } from "@keypin/core";
import { loadPolicyFile } from "@keypin/node";
import { UsageError } from "../errors.js";
import { readInput } from "./read-input.js";

/**
 * Loads and validates a keypin.json with `@keypin/node`'s loader. Every problem (missing or empty file,
 * JSON syntax with line and column, duplicate keys, unknown fields, bad pins, with their JSON paths) is
 * a `UsageError` (exit 2) on one line that names the file.
 *
 * @example
 * const { policy, warnings } = await readPolicy("keypin.json");
 */
export async function readPolicy(path: string): Promise<{ policy: Policy; warnings: LintFinding[] }> {
  readInput(path, "keypin.json policy; `keypin init` writes one");
  try {
    return await loadPolicyFile(path);
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
