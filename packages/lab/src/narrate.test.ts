import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exportFormats } from "@keypin/export";
import picocolors from "picocolors";
import type { LabEvent, LabKeepInfo, LabStepEvent } from "./events.js";
import { keypinCommands, LabNarrator } from "./narrate.js";

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

  it("prints, after the summary of a --keep run, the keypin commands for the cast, paths quoted for the shell", () => {
    const narrator = new LabNarrator({ width: 200 });
    const info = { ...keepInfo, files: { ...keepInfo.files, labRoot: "/tmp/keypin lab/lab-root-ca.pem" } };
    narrator.render({ ...(events[2] as LabStepEvent), data: info } as LabEvent);
    const out = narrator.render(events[3]!);
    assert.ok(
      out.includes(
        "npx keypin inspect api.myapp.com --connect-to api.myapp.com:443:127.0.0.1:4443 --ca '/tmp/keypin lab/lab-root-ca.pem'",
      ),
      out,
    );
    assert.match(
      out,
      /npx keypin check --proxy http:\/\/127\.0\.0\.1:8080 --connect-to api\.myapp\.com:443:api\.myapp\.com:4443 /,
    );
    assert.match(out, /npx keypin export --format android-nsc/);
  });

  it("names, in the --keep export hint, every format of the export registry, in its order", () => {
    const [command, note] = keypinCommands(keepInfo).find(([c]) => c[2] === "export") ?? [[], ""];
    const format = command[command.indexOf("--format") + 1];
    const others = note.replace(/^or /, "").split(", ");
    assert.deepEqual([format, ...others], [...exportFormats]);
  });
});

describe("LabNarrator's short narration", () => {
  const step = (
    scenario: number,
    fields: { step: LabStepEvent["step"]; data: object; actor?: string; route?: string[]; text?: string },
  ) =>
    ({
      v: 1,
      type: "step",
      scenario,
      ts,
      actor: "app",
      route: [],
      text: "(its own text)",
      ...fields,
    }) as LabEvent;
  const request = (scenario: number, token: string, proxy: string | null) =>
    step(scenario, {
      step: "request",
      route: proxy ? ["app", "proxy", "api.myapp.com"] : ["app", "api.myapp.com"],
      text: "The pinned app sends GET …",
      data: {
        method: "GET",
        url: "https://api.myapp.com:4443/user/profile",
        token,
        proxy,
        pins: [],
        anchors: [],
      },
    });

  it("says a request in full once, then as the same one (and names a proxy that is new)", () => {
    const narrator = new LabNarrator({ width: 200 });
    assert.match(
      narrator.render(request(1, "lab_fake_1", null)),
      /The pinned app sends GET https:\/\/api\.myapp\.com:4443\/user\/profile with "Authorization: Bearer lab_fake_1"\./,
    );
    assert.match(
      narrator.render(request(2, "lab_fake_1", "http://127.0.0.1:8080")),
      /same request via http:\/\/127\.0\.0\.1:8080\./,
    );
    assert.match(
      narrator.render(request(3, "lab_fake_1", "http://127.0.0.1:8080")),
      /The pinned app sends the same request\.\n$/,
    );
    assert.match(
      narrator.render(request(4, "lab_fake_2", null)),
      /Bearer lab_fake_2/,
      "another token is said in full",
    );
  });

  it("prints a step's own text when its data is not a shape it knows", () => {
    const narrator = new LabNarrator();
    const odd = step(1, {
      step: "certificate",
      data: { presented: [] },
      text: "Something new happened.",
    });
    assert.match(narrator.render(odd), /Something new happened\./);
    const lab = step(1, { actor: "lab", step: "decision", data: {}, text: "A lesson in one line." });
    assert.match(narrator.render(lab), /A lesson in one line\./);
  });

  it("cuts pins to 8 base64 characters, in its own sentences and in the steps' own texts alike", () => {
    const narrator = new LabNarrator({ width: 200 });
    const pin = "sha256/ABCDEFGHijklmnopqrstuvwxyz0123456789+/ABCD=";
    const compare = step(3, { step: "compare", data: { expectedPins: [pin], matched: null } });
    assert.match(narrator.render(compare), /None of sha256\/ABCDEFGH… is on the path\./);
    const own = step(3, { actor: "lab", step: "setup", data: {}, text: "Pinned: sha256/ABCDEFGHijkl…." });
    assert.match(narrator.render(own), /Pinned: sha256\/ABCDEFGH…\./);
    assert.match(new LabNarrator({ verbose: true, width: 200 }).render(own), /sha256\/ABCDEFGHijkl…/);
  });
});
