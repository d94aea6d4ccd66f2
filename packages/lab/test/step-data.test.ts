import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type LabEvent, type LabStepEvent, runLab } from "@keypin/lab";
import { opensslPinOfCertificate } from "@keypin/testkit";

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
    await runLab({
      whatIf: { attackerCaInstalled: false, viaProxy: true, pins: ["root"], rotated: false, expired: false },
      onEvent: (event) => events.push(event),
    });
    const setup = stepsOf(events, "setup").find((e) => e.scenario === null)!;
    const [, intermediate] = setup.data["chain"] as string[];
    const attackerCa = String(setup.data["attackerCa"]);

    const certificates = stepsOf(events, "certificate");
    assert.equal(certificates.length, 9, "one per attempt of the seven presets, and the what-if's");
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
    // Scenario 5: the genuine intermediate sent along after the forged leaf.
    const appended = certificates.find((s) => s.scenario === 5)!;
    assert.equal(appended.data.presented[1]?.pem, appended.data.real[1]?.pem);
    // Scenario 6: the backend rotated, and the real chain says so.
    for (const step of certificates.filter((s) => s.scenario === 6)) {
      assert.equal(step.data.real[0]!.pin, (setup.data["pins"] as { backup: string }).backup);
    }

    const extracts = stepsOf(events, "extract-pin");
    assert.equal(extracts.length, 8, "every attempt but the refused forgery verified a path");
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
      [1, 2, 3, 4, 5, 6, 6, 7],
    );
    for (const request of requests) {
      const { policy, pins } = request.data;
      if (request.scenario === 1 || request.scenario === 2) assert.equal(policy, null);
      else assert.deepEqual(policyPins(policy), pins, `scenario ${request.scenario}`);
    }
    const rotation = requests.filter((r) => r.scenario === 6);
    assert.deepEqual(
      rotation.map((r) => r.data.pins.length),
      [2, 1],
      "with and without the backup pin",
    );
    const expired = Object.values(requests.find((r) => r.scenario === 7)!.data.policy!.domains)[0]!;
    assert.ok(
      expired.expires && Date.parse(expired.expires) < Date.now(),
      "scenario 7's pin set has expired",
    );
    const pinned = Object.values(requests.find((r) => r.scenario === 3)!.data.policy!.domains)[0]!;
    assert.equal(pinned.expires, undefined);
  });
});
