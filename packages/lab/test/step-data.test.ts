import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type LabEvent,
  type LabStepEvent,
  type LabWhatIf,
  labScenarios,
  predictWhatIf,
  runLab,
} from "@keypin/lab";
import { opensslPinOfCertificate } from "@keypin/testkit";
import {
  expectedObservations,
  requestsOfAllScenarios,
  scenarioNamed,
  untrustedForgery,
} from "./scenario-expectations.js";

type Step<S extends LabStepEvent["step"]> = Extract<LabStepEvent, { step: S }>;

function stepsOf<S extends LabStepEvent["step"]>(events: LabEvent[], id: S): Step<S>[] {
  return events.filter((e): e is Step<S> => e.type === "step" && e.step === id);
}

/** openssl's pin of each PEM, computed once per certificate. */
const opensslPins = new Map<string, string>();
function opensslPin(pem: string): string {
  let pin = opensslPins.get(pem);
  if (!pin) {
    pin = opensslPinOfCertificate(pem);
    opensslPins.set(pem, pin);
  }
  return pin;
}

function policyPins(policy: unknown): string[] {
  const domains = (policy as { domains: Record<string, { pins: ({ pin: string } | string)[] }> }).domains;
  return Object.values(domains).flatMap((entry) =>
    entry.pins.map((pin) => (typeof pin === "string" ? pin : pin.pin)),
  );
}

describe("the steps' certificates and pin sets", () => {
  it("carry the certificates shown, the real chain and the verified path as PEMs whose pins openssl computes alike", async () => {
    const events: LabEvent[] = [];
    await runLab({ onEvent: (event) => events.push(event) });
    const whatIf: LabWhatIf = {
      attackerCaInstalled: false,
      viaProxy: true,
      pins: ["root"],
      rotated: false,
      expired: false,
    };
    await runLab({ whatIf, onEvent: (event) => events.push(event) });
    // Each attempt's expected observation: every app of every preset, then the what-if's (a refused forgery).
    const attempts = [
      ...labScenarios.flatMap((s) => expectedObservations(s)),
      predictWhatIf(whatIf).observation,
    ];
    const setup = stepsOf(events, "setup").find((e) => e.scenario === null)!;
    const [, intermediate] = setup.data["chain"] as string[];
    const attackerCa = String(setup.data["attackerCa"]);

    const certificates = stepsOf(events, "certificate");
    assert.equal(certificates.length, attempts.length, "one per attempt of the presets, and the what-if's");
    for (const step of certificates) {
      const where = `scenario ${step.scenario}`;
      const { presented, real } = step.data;
      assert.ok(presented.length >= 1, where);
      for (const certificate of [...presented, ...real]) {
        assert.match(
          certificate.pem,
          /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/,
        );
        assert.equal(certificate.pin, opensslPin(certificate.pem), `${where}: ${certificate.subject}`);
      }
      assert.equal(presented[0]!.subject, step.data.subject, where);
      assert.equal(presented[0]!.issuer, step.data.issuer, where);
      assert.deepEqual(
        real.map((c) => c.issuer),
        [intermediate, real[1]!.issuer],
        `${where}: the real leaf is the intermediate's`,
      );
      const proxied = step.route[0] === "proxy";
      if (proxied) {
        assert.equal(presented[0]!.issuer, attackerCa, `${where}: the proxy's forgery`);
        assert.notEqual(presented[0]!.pin, real[0]!.pin, `${where}: the forged key is not the real one`);
      } else {
        assert.deepEqual(
          presented,
          real,
          `${where}: straight to the backend, what was shown is the real chain`,
        );
      }
    }
    // The appended intermediate: the genuine intermediate sent along after the forged leaf.
    const appended = certificates.find((s) => s.scenario === scenarioNamed("appended-intermediate").id)!;
    assert.equal(appended.data.presented[1]?.pem, appended.data.real[1]?.pem);
    // The key rotation: the backend rotated, and the real chain says so.
    for (const step of certificates.filter((s) => s.scenario === scenarioNamed("key-rotation").id)) {
      assert.equal(step.data.real[0]!.pin, (setup.data["pins"] as { backup: string }).backup);
    }

    const extracts = stepsOf(events, "extract-pin");
    // OpenSSL refuses a forgery whose CA the device lacks before any path is verified; every other attempt has one.
    const refused = attempts.filter((o) => o === untrustedForgery).length;
    assert.ok(refused >= 1, "the what-if's forgery is refused");
    assert.equal(
      extracts.length,
      attempts.length - refused,
      "every attempt but a refused forgery verified a path",
    );
    for (const step of extracts) {
      const { chainPins, certificates: path } = step.data;
      assert.deepEqual(
        path.map((c) => [c.subject, c.pin]),
        chainPins.map((c) => [c.subject, c.pin]),
        `scenario ${step.scenario}: same order as chainPins`,
      );
      for (const certificate of path) assert.equal(certificate.pin, opensslPin(certificate.pem));
    }
    assert.ok(!JSON.stringify(events).includes("PRIVATE KEY"), "public certificates only");
  });

  it("give each attempt's request the pin set in force, null when the app does not pin", async () => {
    const events: LabEvent[] = [];
    await runLab({ onEvent: (event) => events.push(event) });
    const requests = stepsOf(events, "request");
    assert.deepEqual(
      requests.map((r) => r.scenario),
      requestsOfAllScenarios(),
      "one request per app of each scenario, in order",
    );
    for (const request of requests) {
      const { policy, pins } = request.data;
      const scenario = labScenarios.find((s) => s.id === request.scenario)!;
      const where = `scenario ${scenario.id} (${scenario.name})`;
      if (policy === null) assert.deepEqual(pins, [], where);
      else assert.deepEqual(policyPins(policy), pins, where);
      if (!scenario.whatIf) continue;
      // A what-if preset ships the pin set it declares, expired exactly when it says so.
      assert.equal(pins.length, scenario.whatIf.pins.length, `${where}: one pin per declared choice`);
      assert.equal(policy === null, scenario.whatIf.pins.length === 0, `${where}: a pin set only with pins`);
      for (const entry of Object.values(policy?.domains ?? {})) {
        const expired = entry.expires !== undefined && Date.parse(entry.expires) < Date.now();
        assert.equal(expired, scenario.whatIf.expired, `${where}: the pin set has expired?`);
      }
    }
    const rotation = requests.filter((r) => r.scenario === scenarioNamed("key-rotation").id);
    assert.deepEqual(
      rotation.map((r) => r.data.pins.length),
      [2, 1],
      "with and without the backup pin",
    );
    const expired = Object.values(
      requests.find((r) => r.scenario === scenarioNamed("expired-pins").id)!.data.policy!.domains,
    )[0]!;
    assert.ok(
      expired.expires && Date.parse(expired.expires) < Date.now(),
      "the expired-pins scenario's pin set has expired",
    );
    const pinned = Object.values(
      requests.find((r) => r.scenario === scenarioNamed("pinned-app").id)!.data.policy!.domains,
    )[0]!;
    assert.equal(pinned.expires, undefined);
  });
});
