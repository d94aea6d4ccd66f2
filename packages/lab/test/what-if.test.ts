import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isKeypinError } from "@keypin/core";
import {
  describeWhatIf,
  type LabEvent,
  type LabOutcomeEvent,
  type LabWhatIf,
  labScenarios,
  labWhatIfScenario,
  parseLabWhatIf,
  predictWhatIf,
  runLab,
} from "@keypin/lab";
import { startCast } from "../src/cast.js";
import { keyRotationApps } from "../src/scenarios/key-rotation.js";
import { playWhatIf } from "../src/what-if/play.js";

const scene = (w: Partial<LabWhatIf>): LabWhatIf => ({
  attackerCaInstalled: false,
  viaProxy: false,
  pins: [],
  rotated: false,
  expired: false,
  ...w,
});

/** Each row: a what-if, the outcome the rule table must predict, and what the counters must then show. */
const table: { name: string; whatIf: LabWhatIf; expected: string }[] = [
  // The unpinned control: the attack the pinned rows are measured against.
  {
    name: "no pins, through the proxy, attacker's CA installed",
    whatIf: scene({ attackerCaInstalled: true, viaProxy: true }),
    expected: "token-stolen",
  },
  {
    name: "the root pinned, through the proxy, attacker's CA installed",
    whatIf: scene({ attackerCaInstalled: true, viaProxy: true, pins: ["root"] }),
    expected: "blocked",
  },
  {
    name: "every key of the lab pinned, through the proxy",
    whatIf: scene({
      attackerCaInstalled: true,
      viaProxy: true,
      pins: ["leaf", "intermediate", "root", "backup"],
    }),
    expected: "blocked",
  },
  {
    name: "the leaf pinned, the backend rotated, no backup",
    whatIf: scene({ pins: ["leaf"], rotated: true }),
    expected: "blocked",
  },
  {
    name: "leaf and backup pinned, the backend rotated",
    whatIf: scene({ pins: ["leaf", "backup"], rotated: true }),
    expected: "works",
  },
  { name: "only the backup pinned, not rotated", whatIf: scene({ pins: ["backup"] }), expected: "blocked" },
  {
    name: "the root pinned, straight to the backend, attacker's CA installed",
    whatIf: scene({ attackerCaInstalled: true, pins: ["root"] }),
    expected: "works",
  },
  {
    name: "an expired pin set, through the proxy",
    whatIf: scene({ attackerCaInstalled: true, viaProxy: true, pins: ["intermediate"], expired: true }),
    expected: "token-stolen",
  },
  {
    name: "an expired leaf pin, the backend rotated",
    whatIf: scene({ pins: ["leaf"], rotated: true, expired: true }),
    expected: "works",
  },
  {
    name: "no attacker's CA, through the proxy, no pins",
    whatIf: scene({ viaProxy: true }),
    expected: "failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  },
  {
    name: "no attacker's CA, through the proxy, an expired pin set",
    whatIf: scene({ viaProxy: true, pins: ["root"], expired: true }),
    expected: "failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  },
];

describe("what-if runs", () => {
  for (const row of table) {
    it(`${row.name}: predicted ${row.expected}, and the sockets and counters agree`, async () => {
      const prediction = predictWhatIf(row.whatIf);
      assert.equal(prediction.observation, row.expected, `the rule table (${prediction.rule})`);
      const events: LabEvent[] = [];
      const summary = await runLab({ whatIf: row.whatIf, onEvent: (event) => events.push(event) });

      const described = describeWhatIf(row.whatIf);
      const outcomes = events.filter((e): e is LabOutcomeEvent => e.type === "outcome");
      assert.equal(outcomes.length, 1, "one scenario");
      const outcome = outcomes[0]!;
      assert.equal(outcome.scenario, labWhatIfScenario);
      assert.equal(outcome.title, described.title);
      assert.equal(outcome.expected, row.expected);
      assert.equal(outcome.observed, row.expected, "observed from the counters");
      assert.equal(outcome.ok, true);
      assert.equal(summary.ok, true);
      // The counters the prediction implies, as the proxy and the backend counted them.
      assert.equal(outcome.tokenLeaked, prediction.tokenLeaked, "token in the attacker's log");
      assert.equal(outcome.backendHits, prediction.backendHits, "requests the backend served");
      if (prediction.attackerReadsAppData)
        assert.ok(outcome.attackerAppBytes > 0, "the proxy read the request");
      else assert.equal(outcome.attackerAppBytes, 0, "the proxy read no application byte");
      if (row.expected.startsWith("failed"))
        assert.equal(outcome.tokenLeaked, false, "a refused forgery leaks nothing");

      // Every event but the run's own belongs to scenario 0, whose header carries the description and the what-if.
      for (const event of events) assert.ok(event.scenario === null || event.scenario === labWhatIfScenario);
      const header = events.find((e) => e.type === "step" && e.scenario === 0 && e.step === "setup");
      assert.ok(header?.type === "step");
      assert.deepEqual(header.data, {
        title: described.title,
        proves: described.proves,
        expected: described.expected,
        whatIf: row.whatIf,
      });
      const steps = events.flatMap((e) => (e.type === "step" && e.scenario === 0 ? [e.step] : []));
      for (const id of ["request", "certificate", "decision", "serve"])
        assert.ok(steps.includes(id as never), id);
      if (row.whatIf.viaProxy) assert.ok(steps.includes("intercept"), "the proxy intercepts");
      const request = events.find((e) => e.type === "step" && e.step === "request");
      assert.ok(request?.type === "step" && request.step === "request");
      assert.equal(request.data.proxy !== null, row.whatIf.viaProxy);
      assert.equal(request.data.pins.length, row.whatIf.pins.length, "the app's pin set has the chosen keys");
      const policyEntry = Object.values(request.data.policy?.domains ?? {})[0];
      assert.equal(policyEntry?.expires !== undefined, row.whatIf.pins.length > 0 && row.whatIf.expired);
      if (row.whatIf.expired && policyEntry?.expires) assert.ok(Date.parse(policyEntry.expires) < Date.now());
    });
  }

  it("predicts every one-attempt preset's declared outcome, and each key-rotation app's", () => {
    const withWhatIf = labScenarios.filter((s) => s.whatIf !== null);
    // These presets are one attempt each (a scenario added later may be one too: it is predicted below as well).
    for (const name of [
      "ordinary-https",
      "attacker-ca-no-pinning",
      "pinned-app",
      "pinning-no-attacker",
      "expired-pins",
    ])
      assert.ok(
        withWhatIf.some((s) => s.name === name),
        `${name} is a what-if preset`,
      );
    for (const scenario of withWhatIf) {
      assert.equal(predictWhatIf(scenario.whatIf!).observation, scenario.expected, scenario.name);
    }
    const rotation = labScenarios.find((s) => s.name === "key-rotation")!;
    assert.equal(
      `backup: ${predictWhatIf(keyRotationApps.backup).observation}, no-backup: ${predictWhatIf(keyRotationApps["no-backup"]).observation}`,
      rotation.expected,
    );
    assert.equal(labScenarios.find((s) => s.name === "appended-intermediate")?.whatIf, null);
  });

  it("puts the backend's key and the device's store back after a rotated what-if with the attacker's CA", async () => {
    const cast = await startCast();
    try {
      const whatIf = scene({ attackerCaInstalled: true, pins: ["leaf", "backup"], rotated: true });
      const result = await playWhatIf({ cast, scenario: 0, step: () => {} }, whatIf);
      assert.equal(result.observation, "works");
      assert.equal(result.presented[0]?.pin, cast.pins.backup, "the rotated backend served the spare key");
      assert.equal(cast.backend.leaf, cast.leaf, "the backend serves its own key again");
      // The next attempt sees the original key: a leaf pin works again.
      const after = await playWhatIf({ cast, scenario: 0, step: () => {} }, scene({ pins: ["leaf"] }));
      assert.equal(after.observation, "works");
      assert.equal(cast.device.trusts(cast.attackerCa), false, "a what-if without the CA removes it");
    } finally {
      await cast.close();
    }
  });

  it("refuses a what-if given with scenarios, and malformed what-ifs, naming what was expected", async () => {
    await assert.rejects(
      runLab({ whatIf: scene({}), scenarios: [1] }),
      (error: unknown) => isKeypinError(error) && error.code === "ERR_KEYPIN_LAB_OPTIONS",
    );
    const bad: [unknown, RegExp][] = [
      [null, /what-if object/],
      [{ ...scene({}), pins: ["spare"] }, /one of leaf, intermediate, root, backup but got "spare"/],
      [{ ...scene({}), pins: ["leaf", "leaf"] }, /listed twice/],
      [{ ...scene({}), rotated: "yes" }, /"rotated" to be true or false but got "yes"/],
      [{ ...scene({}), extra: 1 }, /Unknown what-if key "extra"/],
      [{ attackerCaInstalled: true }, /"viaProxy" to be true or false but got nothing/],
    ];
    for (const [input, message] of bad) {
      assert.throws(
        () => parseLabWhatIf(input),
        (error: unknown) =>
          isKeypinError(error) && error.code === "ERR_KEYPIN_LAB_OPTIONS" && message.test(error.message),
        JSON.stringify(input),
      );
      await assert.rejects(
        runLab({ whatIf: input as LabWhatIf }),
        /ERR_KEYPIN_LAB_OPTIONS|Expected|Unknown|twice/,
      );
    }
    assert.deepEqual(parseLabWhatIf({ ...scene({ pins: ["root"] }) }), scene({ pins: ["root"] }));
  });
});
