import assert from "node:assert/strict";
import { describe, it } from "node:test";
import picocolors from "picocolors";
import type { LabEvent, LabKeepInfo } from "./events.js";
import { LabNarrator } from "./narrate.js";

const ts = "2026-01-01T00:00:00.000Z";
const keepInfo: LabKeepInfo = {
  dir: "/tmp/keypin-lab-x",
  files: {
    labRoot: "/tmp/keypin-lab-x/lab-root-ca.pem",
    attackerCa: "/tmp/keypin-lab-x/attacker-ca.pem",
    deviceStore: "/tmp/keypin-lab-x/device-store-with-attacker-ca.pem",
    policy: "/tmp/keypin-lab-x/keypin.json",
  },
  host: "api.myapp.com",
  backend: { address: "127.0.0.1", port: 4443, origin: "https://api.myapp.com:4443" },
  proxy: "http://127.0.0.1:8080",
  token: "lab_fake_0",
  pins: {
    leaf: "sha256/a",
    intermediate: "sha256/b",
    root: "sha256/c",
    backup: "sha256/d",
    attacker: "sha256/e",
  },
  curl: {
    direct: ["curl", "--cacert", "x y.pem", "https://api.myapp.com:4443/"],
    throughProxy: [],
    throughProxyPinned: [],
  },
};

const events: LabEvent[] = [
  {
    v: 1,
    type: "step",
    scenario: 3,
    ts,
    actor: "app",
    step: "decision",
    route: ["app", "✕"],
    text: "The app cancels the connection.",
    data: {},
  },
  {
    v: 1,
    type: "outcome",
    scenario: 3,
    ts,
    title: "Same attack, the app pins its keys",
    expected: "blocked",
    observed: "blocked",
    ok: true,
    tokenLeaked: false,
    attackerAppBytes: 0,
    backendHits: 0,
  },
  {
    v: 1,
    type: "step",
    scenario: null,
    ts,
    actor: "lab",
    step: "keep",
    route: [],
    text: "keeps running",
    data: keepInfo,
  },
  {
    v: 1,
    type: "summary",
    scenario: null,
    ts,
    ok: true,
    durationMs: 1234,
    scenarios: [
      {
        scenario: 3,
        title: "Same attack, the app pins its keys",
        expected: "blocked",
        observed: "blocked",
        ok: true,
        tokenLeaked: false,
      },
    ],
  },
];

describe("LabNarrator", () => {
  it("writes a sequence line per step, an outcome line, and the keep instructions after the summary table", () => {
    const narrator = new LabNarrator();
    const out = events.map((event) => narrator.render(event));
    assert.match(out[0]!, /^ {2}app → ✕ +The app cancels the connection\.\n$/);
    assert.match(
      out[1]!,
      /✔ blocked {2}expected blocked · token leaked: no · proxy read 0 bytes of app data · backend served 0/,
    );
    assert.equal(out[2], "", "the keep step waits for the summary");
    const summary = out[3]!;
    assert.ok(summary.indexOf("Summary") < summary.indexOf("keeps running until Ctrl-C"));
    assert.match(summary, /3 {2}Same attack, the app pins its keys {2}blocked {3}blocked {3}no {12}✔/);
    assert.match(summary, /curl --cacert 'x y\.pem' https:\/\/api\.myapp\.com:4443\//);
    assert.match(summary, /The scenario ended as expected \(1\.2 s\)\./);
  });

  it("colors only when given colors", () => {
    const plain = new LabNarrator().render(events[1]!);
    const colored = new LabNarrator({ colors: picocolors.createColors(true) }).render(events[1]!);
    assert.doesNotMatch(plain, /\u001b\[/);
    assert.match(colored, /\u001b\[32m/);
  });
});
