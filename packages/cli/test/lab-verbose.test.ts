// Spawns the built CLI: `keypin lab` narrates short by default, `--verbose` prints each step's own text, and
// `--json` writes the same events either way.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LabEvent, LabStepEvent } from "@keypin/lab";
import { runCli } from "@keypin/testkit";

const run = (args: string[]) => runCli(args, { env: { NO_COLOR: "1" }, killAfterMs: 60_000 });

/** The events of a `--json` run, without what changes from one run to the next (times, ports, keys, token). */
function shape(stdout: string): unknown[] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as LabEvent)
    .map((event) =>
      event.type === "step"
        ? {
            scenario: event.scenario,
            actor: event.actor,
            step: event.step,
            route: (event as LabStepEvent).route,
          }
        : { type: event.type, scenario: event.scenario },
    );
}

describe("keypin lab --verbose", () => {
  it("prints each step's own sentences, where the default says the repeats once in shorter lines", async () => {
    const [short, verbose, json, jsonVerbose] = await Promise.all([
      run(["lab", "--scenario", "2,3"]),
      run(["lab", "--scenario", "2,3", "--verbose"]),
      run(["lab", "--scenario", "2,3", "--json"]),
      run(["lab", "--scenario", "2,3", "--json", "--verbose"]),
    ]);
    for (const result of [short, verbose, json, jsonVerbose]) assert.equal(result.code, 0, result.stderr);

    // The verbose narration keeps the steps' own sentences; the short one says them in fewer words.
    const flat = (text: string) => text.replace(/\n {4,}/g, " ");
    const cancel = "The app cancels the connection before sending a single byte of the request";
    assert.ok(flat(verbose.stdout).includes(cancel));
    assert.ok(!flat(short.stdout).includes(cancel), "the short narration says it in fewer words");
    assert.match(short.stdout, /app → ✕ {2,}The app cancels the connection \(ERR_KEYPIN_PIN_MISMATCH\)\./);
    assert.match(
      short.stdout,
      /The pinned app sends the same request\./,
      "scenario 3 repeats scenario 2's request",
    );
    assert.ok(short.stdout.split("\n").length < verbose.stdout.split("\n").length);

    // --verbose changes the narration only: the JSON events have the same steps in the same order.
    assert.deepEqual(shape(jsonVerbose.stdout), shape(json.stdout));
  });
});
