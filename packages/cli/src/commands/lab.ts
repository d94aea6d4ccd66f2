import { LabNarrator, type LabSummary, labScenarios, runLab } from "@keypin/lab";
import { defineCommand } from "../command.js";
import { FailureError, UsageError } from "../errors.js";
import { runLabWeb } from "../lab-web.js";
import { colorsFor } from "../output.js";

/** `--scenario 3`, `--scenario 2,3` or `--scenario 2 --scenario 3`: the ids, checked. */
function parseScenarios(values: string[]): number[] | undefined {
  if (values.length === 0) return undefined;
  const known = labScenarios.map((s) => s.id);
  const ids: number[] = [];
  for (const part of values.flatMap((value) => value.split(","))) {
    const id = Number(part.trim());
    if (!Number.isInteger(id) || !known.includes(id)) {
      throw new UsageError(
        `--scenario expects a number from ${known[0]} to ${known[known.length - 1]} (got "${part}"); see \`keypin help lab\``,
      );
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * `keypin lab`: runs the MITM lab on 127.0.0.1 and narrates it; `--json` writes the events as JSON Lines.
 *
 * @example
 * // keypin lab --scenario 3 --json | jq -c 'select(.type == "outcome")'
 */
export default defineCommand({
  meta: { name: "lab" },
  usage: "[--scenario LIST] [--keep] [--verbose] [--json] | --web [--open] [--port N]",
  examples: [
    "keypin lab                      # every scenario, narrated",
    "keypin lab --scenario 3         # only the pinned app against the proxy",
    "keypin lab --keep               # then leave the cast running for curl or your own app, until Ctrl-C",
    "keypin lab --verbose            # each step in full: every subject's whole name, every sentence",
    "keypin lab --json | jq -c 'select(.type == \"outcome\")'",
    "keypin lab --web --open         # the same run drawn as a sequence diagram in your browser, until Ctrl-C",
  ],
  exitCodes: {
    0: "every scenario ended as expected (with --web: the page was closed with Ctrl-C)",
    1: "a scenario did not end as expected (or the run was interrupted)",
    2: "bad option (an unknown scenario number)",
  },
  args: {
    scenario: {
      type: "string",
      alias: "s",
      valueHint: "LIST",
      description: `run only these scenarios (${labScenarios.map((s) => s.id).join(", ")}; repeat or separate with commas)`,
      repeatable: true,
    },
    keep: {
      type: "boolean",
      description:
        "after the scenarios, leave the backend and the proxy running and print how to point curl or your app at them, until Ctrl-C",
    },
    verbose: {
      type: "boolean",
      description:
        "narrate each step in full (default: what repeats from one scenario to the next is said once; every step and value stays)",
    },
    json: { type: "boolean", description: "write the events as JSON Lines (one JSON object per line)" },
    web: {
      type: "boolean",
      description:
        "serve the run as a live sequence diagram on 127.0.0.1 (URL printed; what-if runs, downloads), until Ctrl-C",
    },
    open: { type: "boolean", description: "with --web: open the page in the default browser" },
    port: {
      type: "string",
      valueHint: "N",
      description: "with --web: the port on 127.0.0.1 (default: a free one)",
    },
  },
  async run({ args }) {
    if (args.web === true) {
      for (const other of ["scenario", "keep", "json"] as const) {
        const value = args[other];
        if (value === true || (Array.isArray(value) && value.length > 0)) {
          throw new UsageError(`--web does not take --${other}: the page runs every scenario and what-ifs`);
        }
      }
      await runLabWeb({ open: args.open === true, port: args.port });
      return;
    }
    if (args.open === true || args.port !== undefined) {
      throw new UsageError("--open and --port go with --web (keypin lab --web --open)");
    }
    const scenarios = parseScenarios(args.scenario);
    const json = args.json === true;
    const keep = args.keep === true;
    const narrator = new LabNarrator({
      colors: colorsFor(process.stdout),
      width: process.stdout.columns ? Math.min(process.stdout.columns, 140) : 100,
      verbose: args.verbose === true,
    });
    const controller = new AbortController();
    const stop = (): void => controller.abort(new Error("interrupted"));
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    let summary: LabSummary;
    try {
      summary = await runLab({
        ...(scenarios ? { scenarios } : {}),
        keep,
        signal: controller.signal,
        onEvent: (event) => {
          process.stdout.write(json ? `${JSON.stringify(event)}\n` : narrator.render(event));
        },
      });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new FailureError("interrupted: the lab closed its servers before finishing", { cause: error });
      }
      throw error;
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
    if (keep && !json) process.stdout.write("\nThe lab closed every port and deleted its files.\n");
    if (!summary.ok) {
      const failed = summary.scenarios.filter((s) => !s.ok);
      throw new FailureError(
        `${failed.length} lab scenario${failed.length === 1 ? "" : "s"} did not end as expected: ${failed
          .map((s) => `${s.scenario} (expected ${s.expected}, observed ${s.observed})`)
          .join("; ")}`,
      );
    }
  },
});
