import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeypinError } from "@keypin/core";
import { type LabEvent, type LabOutcomeEvent, runLab } from "@keypin/lab";
import { isListening, portOf } from "@keypin/testkit";

const expected: Record<number, { observed: string; tokenLeaked: boolean; backendHits: number }> = {
  1: { observed: "works", tokenLeaked: false, backendHits: 1 },
  2: { observed: "token-stolen", tokenLeaked: true, backendHits: 1 },
  3: { observed: "blocked", tokenLeaked: false, backendHits: 0 },
  4: { observed: "works", tokenLeaked: false, backendHits: 1 },
  5: { observed: "blocked", tokenLeaked: false, backendHits: 0 },
  6: { observed: "backup: works, no-backup: blocked", tokenLeaked: false, backendHits: 1 },
  7: { observed: "token-stolen", tokenLeaked: true, backendHits: 1 },
};

describe("runLab in-process", () => {
  it("plays all seven scenarios to their expected outcomes, as the counters saw them, then closes every port", async () => {
    const events: LabEvent[] = [];
    const summary = await runLab({ onEvent: (event) => events.push(event) });

    for (const event of events) {
      assert.equal(event.v, 1);
      assert.ok(["step", "outcome", "summary"].includes(event.type));
      assert.ok(event.scenario === null || (event.scenario >= 1 && event.scenario <= 7));
      assert.ok(!Number.isNaN(Date.parse(event.ts)), `ts is a date: ${event.ts}`);
    }
    const last = events[events.length - 1];
    assert.equal(last?.type, "summary", "the summary is the last event");
    assert.equal(events.filter((e) => e.type === "summary").length, 1);

    const outcomes = events.filter((e): e is LabOutcomeEvent => e.type === "outcome");
    assert.deepEqual(
      outcomes.map((o) => o.scenario),
      [1, 2, 3, 4, 5, 6, 7],
      "one outcome per scenario, in order",
    );
    for (const outcome of outcomes) {
      const want = expected[outcome.scenario]!;
      assert.equal(outcome.observed, want.observed, `scenario ${outcome.scenario}`);
      assert.equal(outcome.expected, want.observed, `scenario ${outcome.scenario}`);
      assert.equal(outcome.ok, true, `scenario ${outcome.scenario}`);
      assert.equal(outcome.tokenLeaked, want.tokenLeaked, `scenario ${outcome.scenario} tokenLeaked`);
      assert.equal(outcome.backendHits, want.backendHits, `scenario ${outcome.scenario} backendHits`);
    }
    const byId = new Map(outcomes.map((o) => [o.scenario, o]));
    assert.equal(byId.get(3)?.attackerAppBytes, 0, "the pinned app sent the proxy no application byte");
    assert.equal(byId.get(5)?.attackerAppBytes, 0);
    assert.ok((byId.get(2)?.attackerAppBytes ?? 0) > 0, "the unpinned app's request went through the proxy");
    assert.ok((byId.get(7)?.attackerAppBytes ?? 0) > 0);
    for (const id of [1, 4, 6])
      assert.equal(byId.get(id)?.attackerAppBytes, 0, `scenario ${id} had no proxy`);

    assert.equal(summary.ok, true);
    assert.deepEqual(
      summary.scenarios.map((s) => [s.scenario, s.ok]),
      [1, 2, 3, 4, 5, 6, 7].map((id) => [id, true]),
    );

    // Every scenario narrates the steps the issue asks for.
    const steps = (id: number) =>
      events
        .filter((e) => e.type === "step" && e.scenario === id)
        .map((e) => (e.type === "step" ? e.step : ""));
    for (const id of [1, 2, 3, 4, 5, 6, 7]) {
      for (const step of ["request", "certificate", "trust", "extract-pin", "compare", "decision", "serve"]) {
        assert.ok(steps(id).includes(step as never), `scenario ${id} narrates "${step}"`);
      }
    }
    for (const id of [2, 3, 5, 7]) {
      assert.ok(steps(id).includes("intercept"), `scenario ${id} shows the proxy intercepting`);
      assert.ok(steps(id).includes("decrypt"), `scenario ${id} shows what the proxy decrypted`);
    }

    // Nothing is left listening.
    const setup = events.find((e) => e.type === "step" && e.scenario === null && e.step === "setup");
    assert.ok(setup && setup.type === "step");
    const backendPort = portOf(String(setup.data["backend"]));
    const proxyPort = portOf(String(setup.data["proxy"]));
    assert.equal(await isListening(backendPort), false, "the backend's port is closed");
    assert.equal(await isListening(proxyPort), false, "the proxy's port is closed");
  });

  it("shows, in scenario 5, the genuine pinned intermediate sent along but absent from the verified path", async () => {
    const events: LabEvent[] = [];
    await runLab({ scenarios: [5], onEvent: (event) => events.push(event) });
    const setup = events.find((e) => e.type === "step" && e.scenario === null);
    assert.ok(setup?.type === "step");
    const pins = setup.data["pins"] as { intermediate: string; attacker: string };
    const intercept = events.find((e) => e.type === "step" && e.step === "intercept");
    assert.ok(intercept?.type === "step");
    assert.deepEqual(intercept.data["appended"], ["CN=Lab Public CA R1, O=keypin lab public CA"]);
    const extract = events.find((e) => e.type === "step" && e.step === "extract-pin");
    assert.ok(extract?.type === "step");
    const chainPins = (extract.data["chainPins"] as { subject: string; pin: string }[]).map(
      (entry) => entry.pin,
    );
    assert.ok(!chainPins.includes(pins.intermediate), "the pinned intermediate is not on the verified path");
    assert.deepEqual(chainPins, [pins.attacker, pins.attacker], "forged leaf and attacker CA share one key");
    const compare = events.find((e) => e.type === "step" && e.step === "compare");
    assert.ok(compare?.type === "step");
    assert.ok((compare.data["expectedPins"] as string[]).includes(pins.intermediate));
  });

  it("runs only the scenarios asked for, in the order given", async () => {
    const outcomes: number[] = [];
    const summary = await runLab({
      scenarios: [4, 1],
      onEvent: (event) => {
        if (event.type === "outcome") outcomes.push(event.scenario);
      },
    });
    assert.deepEqual(outcomes, [4, 1]);
    assert.deepEqual(
      summary.scenarios.map((s) => s.scenario),
      [4, 1],
    );
  });

  it("refuses an unknown scenario number before starting anything", async () => {
    await assert.rejects(
      runLab({ scenarios: [8] }),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_LAB_SCENARIO",
    );
  });

  it("stops when aborted mid-run and leaves no port open", async () => {
    const controller = new AbortController();
    let ports: number[] = [];
    await assert.rejects(
      runLab({
        signal: controller.signal,
        onEvent: (event) => {
          if (event.type === "step" && event.scenario === null && event.step === "setup") {
            ports = [portOf(String(event.data["backend"])), portOf(String(event.data["proxy"]))];
          }
          if (event.type === "outcome" && event.scenario === 2) controller.abort(new Error("stop here"));
        },
      }),
      /stop here/,
    );
    assert.equal(ports.length, 2);
    for (const port of ports) assert.equal(await isListening(port), false, `port ${port} is closed`);
  });
});
