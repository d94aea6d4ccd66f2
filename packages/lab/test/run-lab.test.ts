import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KeypinError } from "@keypin/core";
import { type LabEvent, type LabOutcomeEvent, labScenarios, runLab } from "@keypin/lab";
import { isListening, portOf } from "@keypin/testkit";
import { expectedCounters, scenarioNamed } from "./scenario-expectations.js";

describe("runLab in-process", () => {
  it("plays every registered scenario to its declared outcome, as the counters saw them, then closes every port", async () => {
    const events: LabEvent[] = [];
    const summary = await runLab({ onEvent: (event) => events.push(event) });
    const ids = labScenarios.map((s) => s.id);

    for (const event of events) {
      assert.equal(event.v, 1);
      assert.ok(["step", "outcome", "summary"].includes(event.type));
      assert.ok(event.scenario === null || ids.includes(event.scenario), `scenario ${event.scenario}`);
      assert.ok(!Number.isNaN(Date.parse(event.ts)), `ts is a date: ${event.ts}`);
    }
    const last = events[events.length - 1];
    assert.equal(last?.type, "summary", "the summary is the last event");
    assert.equal(events.filter((e) => e.type === "summary").length, 1);

    const outcomes = events.filter((e): e is LabOutcomeEvent => e.type === "outcome");
    assert.deepEqual(
      outcomes.map((o) => o.scenario),
      ids,
      "one outcome per scenario, in order",
    );
    const steps = (id: number) => events.flatMap((e) => (e.type === "step" && e.scenario === id ? [e] : []));
    for (const scenario of labScenarios) {
      const where = `scenario ${scenario.id} (${scenario.name})`;
      const outcome = outcomes.find((o) => o.scenario === scenario.id)!;
      const want = expectedCounters(scenario);
      assert.equal(outcome.observed, scenario.expected, where);
      assert.equal(outcome.expected, scenario.expected, where);
      assert.equal(outcome.ok, true, where);
      assert.equal(outcome.tokenLeaked, want.tokenLeaked, `${where} tokenLeaked`);
      assert.equal(outcome.backendHits, want.backendHits, `${where} backendHits`);
      if (want.attackerReadsAppData)
        assert.ok(outcome.attackerAppBytes > 0, `${where}: the app's request went through the proxy`);
      else assert.equal(outcome.attackerAppBytes, 0, `${where}: the proxy read no application byte`);

      // Every scenario narrates the steps the issue asks for; one request per app.
      const ran = steps(scenario.id).map((e) => e.step);
      for (const step of ["request", "certificate", "decision", "serve"]) {
        assert.ok(ran.includes(step as never), `${where} narrates "${step}"`);
      }
      // And, for each app that gets a verified path, the path, its pins and their comparison.
      for (const step of ["trust", "extract-pin", "compare"]) {
        assert.equal(ran.filter((s) => s === step).length, want.verifiedPaths, `${where} narrates "${step}"`);
      }
      const requests = steps(scenario.id).flatMap((e) => (e.step === "request" ? [e] : []));
      assert.equal(requests.length, want.apps, `${where}: one request per app`);
      // Through the proxy (as a what-if preset declares it), the proxy is shown intercepting and decrypting.
      const proxied = requests.some((r) => r.data.proxy !== null);
      if (scenario.whatIf) assert.equal(proxied, scenario.whatIf.viaProxy, `${where}: via the proxy`);
      if (proxied) {
        assert.ok(ran.includes("intercept"), `${where} shows the proxy intercepting`);
        assert.ok(ran.includes("decrypt"), `${where} shows what the proxy decrypted`);
      } else assert.equal(outcome.attackerAppBytes, 0, `${where} had no proxy`);
    }

    assert.equal(summary.ok, true);
    assert.deepEqual(
      summary.scenarios.map((s) => [s.scenario, s.ok]),
      ids.map((id) => [id, true]),
    );

    // Nothing is left listening.
    const setup = events.find((e) => e.type === "step" && e.scenario === null && e.step === "setup");
    assert.ok(setup && setup.type === "step");
    const backendPort = portOf(String(setup.data["backend"]));
    const proxyPort = portOf(String(setup.data["proxy"]));
    assert.equal(await isListening(backendPort), false, "the backend's port is closed");
    assert.equal(await isListening(proxyPort), false, "the proxy's port is closed");
  });

  it("shows, in the appended-intermediate scenario, the genuine pinned intermediate sent along but absent from the verified path", async () => {
    const events: LabEvent[] = [];
    await runLab({
      scenarios: [scenarioNamed("appended-intermediate").id],
      onEvent: (event) => events.push(event),
    });
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
      runLab({ scenarios: [labScenarios.length + 1] }),
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
