// Spawns the built CLI (`npm run build` first): `node packages/cli/bin/keypin.js lab …`.
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import {
  type LabEvent,
  type LabKeepInfo,
  type LabOutcomeEvent,
  type LabStepEvent,
  labScenarios,
} from "@keypin/lab";
import { curl, type Env, isListening, portOf, runCli, spawnCli } from "@keypin/testkit";
import { expectedCounters } from "./scenario-expectations.js";

const ansi = /\u001b\[[0-9;]*m/;

/** The lab sees this environment's colors (NO_COLOR unset) unless `env` says otherwise; stdin stays open. */
const start = (args: string[], env: Env = {}) => spawnCli(args, { env: { NO_COLOR: undefined, ...env } });
const run = (args: string[], env: Env = {}) =>
  runCli(args, { env: { NO_COLOR: undefined, ...env }, keepStdinOpen: true, killAfterMs: 120_000 });

function parseLines(stdout: string): LabEvent[] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as LabEvent);
}

function portsOf(events: LabEvent[]): number[] {
  const setup = events.find(
    (e): e is LabStepEvent => e.type === "step" && e.scenario === null && e.step === "setup",
  );
  assert.ok(setup, "the run starts with the lab's setup step");
  return [portOf(String(setup.data["backend"])), portOf(String(setup.data["proxy"]))];
}

describe("keypin lab (spawned)", () => {
  it("writes JSON Lines for every registered scenario, exits 0, and leaves nothing listening", async () => {
    const { code, stdout, stderr } = await run(["lab", "--json"]);
    assert.equal(code, 0, stderr);
    const events = parseLines(stdout);
    assert.equal(events.at(-1)?.type, "summary");
    const outcomes = events.filter((e): e is LabOutcomeEvent => e.type === "outcome");
    assert.deepEqual(
      outcomes.map((o) => [o.scenario, o.observed, o.ok]),
      labScenarios.map((s) => [s.id, s.expected, true]),
    );
    const setup = events.find((e) => e.type === "step" && e.scenario === null);
    const token = String(setup?.type === "step" ? setup.data["token"] : "");
    assert.match(token, /^lab_fake_[0-9a-f]{24}$/);
    for (const scenario of labScenarios) {
      const where = `scenario ${scenario.id} (${scenario.name})`;
      const outcome = outcomes.find((o) => o.scenario === scenario.id)!;
      const want = expectedCounters(scenario);
      assert.equal(outcome.tokenLeaked, want.tokenLeaked, where);
      assert.equal(outcome.backendHits, want.backendHits, where);
      if (!want.attackerReadsAppData) assert.equal(outcome.attackerAppBytes, 0, where);
      // The token itself shows up in the proxy's steps of a scenario that expects it stolen, and of no other.
      const proxySteps = events.filter(
        (e) => e.type === "step" && e.scenario === scenario.id && e.actor === "proxy",
      );
      assert.equal(JSON.stringify(proxySteps).includes(token), want.tokenLeaked, where);
    }
    for (const port of portsOf(events)) assert.equal(await isListening(port), false, `port ${port} closed`);
  });

  it("runs one scenario with --scenario 3: the proxy reads 0 bytes and the backend serves nothing", async () => {
    const { code, stdout, stderr } = await run(["lab", "--scenario", "3", "--json"]);
    assert.equal(code, 0, stderr);
    const events = parseLines(stdout);
    assert.ok(events.every((e) => e.scenario === null || e.scenario === 3));
    const outcome = events.find((e): e is LabOutcomeEvent => e.type === "outcome");
    assert.equal(outcome?.observed, "blocked");
    assert.equal(outcome?.attackerAppBytes, 0);
    assert.equal(outcome?.backendHits, 0);
    const decision = events.find((e) => e.type === "step" && e.step === "decision");
    assert.equal(decision?.type === "step" ? decision.data["code"] : undefined, "ERR_KEYPIN_PIN_MISMATCH");
  });

  it("narrates in plain text when piped, with a sequence line per step and a summary table", async () => {
    const { code, stdout, stderr } = await run(["lab", "--scenario", "2,3"]);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, ansi, "no colors when stdout is not a terminal");
    assert.match(
      stdout,
      /app → proxy → api\.myapp\.com {2,}The app sends GET https:\/\/api\.myapp\.com:\d+\/user\/profile/,
    );
    assert.match(stdout, /app → ✕ {2,}The app cancels the connection/);
    assert.match(stdout, /#\s+scenario\s+expected\s+observed\s+token leaked/);
    assert.match(
      stdout,
      /2\s+Attacker's CA on the device, no pinning\s+token-stolen\s+token-stolen\s+yes\s+✔/,
    );
    assert.match(stdout, /3\s+Same attack, the app pins its keys\s+blocked\s+blocked\s+no\s+✔/);
  });

  it("colors only when asked (FORCE_COLOR) and never under NO_COLOR", async () => {
    const forced = await run(["lab", "--scenario", "1"], { FORCE_COLOR: "1" });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, ansi);
    const plain = await run(["lab", "--scenario", "1"], { FORCE_COLOR: "1", NO_COLOR: "1" });
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, ansi);
  });

  it("refuses an unknown scenario with exit 2 and nothing on stdout", async () => {
    const unknown = String(labScenarios.length + 1);
    const { code, stdout, stderr } = await run(["lab", "--scenario", unknown]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.ok(
      stderr.includes(`--scenario expects a number from 1 to ${labScenarios.length} (got "${unknown}")`),
      stderr,
    );
  });

  it("on SIGINT in the middle of a run, stops with exit 1 and leaves nothing listening", async () => {
    const child = start(["lab", "--json"]);
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, "close");
    child.stdout.on("data", (chunk: Buffer) => {
      const before = stdout;
      stdout += chunk.toString();
      if (!before.includes('"type":"outcome"') && stdout.includes('"type":"outcome"')) child.kill("SIGINT");
    });
    const [code] = (await exited) as [number | null];
    assert.equal(code, 1, stderr);
    assert.match(stderr, /interrupted/);
    const events = stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as LabEvent);
    assert.ok(!events.some((e) => e.type === "summary"), "an interrupted run has no summary");
    for (const port of portsOf(events)) assert.equal(await isListening(port), false, `port ${port} closed`);
  });

  it("--keep serves curl with the printed CA and pin until SIGINT, then closes its ports and deletes its files", async () => {
    const child = start(["lab", "--keep", "--json", "--scenario", "1"]);
    const events: LabEvent[] = [];
    let buffered = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(child, "close");
    const waitFor = (predicate: (event: LabEvent) => boolean): Promise<LabEvent> =>
      new Promise((resolve, reject) => {
        const found = events.find(predicate);
        if (found) return resolve(found);
        const onData = (): void => {
          const match = events.find(predicate);
          if (match) {
            child.stdout.off("data", onData);
            resolve(match);
          }
        };
        child.stdout.on("data", onData);
        child.once("close", () => reject(new Error(`keypin lab exited early: ${stderr}`)));
      });
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line) events.push(JSON.parse(line) as LabEvent);
    });
    try {
      const keep = await waitFor((e) => e.type === "step" && e.step === "keep");
      await waitFor((e) => e.type === "summary");
      const info = (keep as LabStepEvent).data as unknown as LabKeepInfo;
      assert.ok(
        existsSync(info.files.labRoot) && existsSync(info.files.deviceStore) && existsSync(info.files.policy),
      );

      // The printed recipe: the lab CA, the leaf pin, --resolve for the name.
      const direct = await curl(info.curl.direct.slice(1));
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(JSON.parse(direct.stdout).name, "Sam Example");
      assert.ok(info.curl.direct.includes("--pinnedpubkey") && info.curl.direct.includes("--cacert"));

      // Our own recipe from the printed values, with --connect-to this time.
      const own = await curl([
        "--cacert",
        info.files.labRoot,
        "--pinnedpubkey",
        `sha256//${info.pins.leaf.slice("sha256/".length)}`,
        "--connect-to",
        `${info.host}:${info.backend.port}:127.0.0.1:${info.backend.port}`,
        "-H",
        `Authorization: Bearer ${info.token}`,
        `${info.backend.origin}/user/profile`,
      ]);
      assert.equal(own.code, 0, own.stderr);

      // Through the proxy without a pin: the live log shows the token; with the pin curl refuses.
      const stolen = await curl(info.curl.throughProxy.slice(1));
      assert.equal(stolen.code, 0, stolen.stderr);
      await waitFor(
        (e) =>
          e.type === "step" && e.actor === "proxy" && e.step === "decrypt" && e.text.includes(info.token),
      );
      const refused = await curl(info.curl.throughProxyPinned.slice(1));
      assert.equal(refused.code, 90, refused.stderr);

      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
      for (const port of [info.backend.port, portOf(info.proxy)]) {
        assert.equal(await isListening(port), false, `port ${port} closed after SIGINT`);
      }
      assert.equal(existsSync(info.dir), false, "the temporary folder is gone");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
