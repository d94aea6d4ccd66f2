import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeypinError, type PolicyFile, pinToBase64 } from "@keypin/core";
import { type LabCast, startCast } from "./cast.js";
import type {
  LabEvent,
  LabKeepInfo,
  LabOutcomeEvent,
  LabStep,
  LabStepEvent,
  LabSummary,
  LabSummaryEvent,
} from "./events.js";
import { proxyLogStep } from "./keep-steps.js";
import { type LabScenario, labScenarios, type ScenarioContext } from "./scenarios/index.js";
import { playWhatIf } from "./what-if/play.js";
import { describeWhatIf, type LabWhatIf, labWhatIfScenario, parseLabWhatIf } from "./what-if/what-if.js";

/**
 * Options of {@link runLab}.
 *
 * @example
 * const options: RunLabOptions = { scenarios: [3], onEvent: (event) => console.log(event.type) };
 */
export interface RunLabOptions {
  /** Which scenarios to run (their numbers in `labScenarios`), in the order given; default all, in order. */
  scenarios?: number[];
  /**
   * Run ONE parameterised scenario instead of the presets: its events have `scenario: 0` ({@link labWhatIfScenario}),
   * its title, proof and expected outcome come from `describeWhatIf` (predicted by the rule table), its observed
   * outcome from the counters, as a preset's. Not with `scenarios` (ERR_KEYPIN_LAB_OPTIONS); a malformed value is
   * refused with ERR_KEYPIN_LAB_OPTIONS too.
   */
  whatIf?: LabWhatIf;
  /**
   * Called with every NSS key log line (SSLKEYLOGFILE format, without the newline) of every TLS session the
   * app opens, to the proxy and to the backend: written to a file, they let Wireshark decrypt the run. Session
   * secrets only; they decrypt this run's made-up traffic and nothing else.
   */
  onKeylog?: (line: string) => void;
  /**
   * Leave the cast running after the scenarios (until `signal` aborts): writes the CA files and a keypin.json
   * to a temporary folder and emits a `keep` step saying how to point curl, a proxy-aware tool or your own
   * app at it. Requires `signal`.
   */
  keep?: boolean;
  /** Called with every event, in order. */
  onEvent?: (event: LabEvent) => void;
  /** Stops the run (or, with `keep`, ends it): every server is closed and the temporary folder removed. */
  signal?: AbortSignal;
}

function assertScenarios(ids: number[]): void {
  const known = labScenarios.map((s) => s.id);
  for (const id of ids) {
    if (!known.includes(id)) {
      throw new KeypinError(
        "ERR_KEYPIN_LAB_SCENARIO",
        `Expected a scenario number from ${known[0]} to ${known[known.length - 1]} but got ${id}.`,
      );
    }
  }
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Renders an argument list as one POSIX shell command line (quoting only what needs it).
 *
 * @example
 * formatCommand(["curl", "-H", "Authorization: Bearer x"]); // curl -H 'Authorization: Bearer x'
 */
export function formatCommand(args: string[]): string {
  return args.map(shellQuote).join(" ");
}

async function writeKeepFiles(cast: LabCast, dir: string): Promise<LabKeepInfo> {
  const files = {
    labRoot: join(dir, "lab-root-ca.pem"),
    attackerCa: join(dir, "attacker-ca.pem"),
    deviceStore: join(dir, "device-store-with-attacker-ca.pem"),
    policy: join(dir, "keypin.json"),
  };
  const policy: PolicyFile = {
    domains: {
      [cast.host]: {
        pins: [
          { pin: cast.pins.leaf, role: "leaf", label: "the backend's current key" },
          { pin: cast.pins.intermediate, role: "intermediate", label: "Lab Public CA R1" },
          { pin: cast.pins.backup, role: "backup", label: "spare key, kept offline" },
        ],
      },
    },
  };
  await writeFile(files.labRoot, cast.root.pem);
  await writeFile(files.attackerCa, cast.attackerCa.pem);
  await writeFile(files.deviceStore, cast.root.pem + cast.attackerCa.pem);
  await writeFile(files.policy, `${JSON.stringify(policy, null, 2)}\n`);
  const port = cast.backend.port;
  const proxy = `http://127.0.0.1:${cast.proxy.port}`;
  const url = `${cast.origin}/user/profile`;
  const auth = ["-H", `Authorization: Bearer ${cast.token}`];
  // curl's --pinnedpubkey checks the server's own (leaf) key.
  const pinned = ["--pinnedpubkey", `sha256//${pinToBase64(cast.pins.leaf)}`];
  return {
    dir,
    files,
    host: cast.host,
    backend: { address: "127.0.0.1", port, origin: cast.origin },
    proxy,
    token: cast.token,
    pins: cast.pins,
    curl: {
      direct: [
        "curl",
        "--cacert",
        files.labRoot,
        ...pinned,
        "--resolve",
        `${cast.host}:${port}:127.0.0.1`,
        ...auth,
        url,
      ],
      throughProxy: ["curl", "--proxy", proxy, "--cacert", files.deviceStore, ...auth, url],
      throughProxyPinned: ["curl", "--proxy", proxy, "--cacert", files.deviceStore, ...pinned, ...auth, url],
    },
  };
}

/** A what-if run as a scenario numbered {@link labWhatIfScenario}, played by the presets' own `playWhatIf`. */
function whatIfScenario(whatIf: LabWhatIf): LabScenario {
  const { title, proves, expected } = describeWhatIf(whatIf);
  return {
    id: labWhatIfScenario,
    name: "what-if",
    title,
    proves,
    expected,
    whatIf,
    async run(context) {
      return (await playWhatIf(context, whatIf)).observation;
    },
  };
}

/**
 * Runs the MITM lab: starts the cast on 127.0.0.1 with fresh keys, plays the scenarios (all of
 * `labScenarios` by default), emits every step, one `outcome` per scenario and a `summary` last, then stops everything.
 * Outcomes are classified from the proxy's and the backend's own counters, not from the script.
 * Rejects with a KeypinError `ERR_KEYPIN_LAB_SCENARIO` for an unknown scenario, or with the abort reason
 * if `signal` aborts before the end (without `keep`).
 *
 * @example
 * import { runLab } from "@keypin/lab";
 * const summary = await runLab({ scenarios: [2, 3], onEvent: (e) => console.log(JSON.stringify(e)) });
 * console.log(summary.ok); // true when every scenario ended as expected
 */
export async function runLab(options: RunLabOptions = {}): Promise<LabSummary> {
  if (options.whatIf !== undefined && options.scenarios !== undefined) {
    throw new KeypinError(
      "ERR_KEYPIN_LAB_OPTIONS",
      "Give either `scenarios` (presets) or `whatIf` (one parameterised run), not both.",
    );
  }
  let scenarios: LabScenario[];
  if (options.whatIf !== undefined) {
    scenarios = [whatIfScenario(parseLabWhatIf(options.whatIf))];
  } else {
    const ids = options.scenarios ?? labScenarios.map((s) => s.id);
    assertScenarios(ids);
    scenarios = ids.map((id) => labScenarios.find((s) => s.id === id)!);
  }
  if (options.keep && !options.signal) {
    throw new KeypinError("ERR_KEYPIN_LAB_OPTIONS", "`keep: true` needs a `signal` to end the run with.");
  }
  const { signal } = options;
  signal?.throwIfAborted();
  const started = Date.now();
  const emit = (event: LabEvent): void => options.onEvent?.(event);
  const ts = (): string => new Date().toISOString();
  const step = (scenario: number | null, narrated: LabStep): void => {
    // Key order as before: v, type, scenario, ts, actor, step, text, route, data.
    const { actor, step: id, text, route, data } = narrated;
    emit({ v: 1, type: "step", scenario, ts: ts(), actor, step: id, text, route, data } as LabStepEvent);
  };

  const cast = await startCast();
  let keepDir: string | undefined;
  const removeKeepDirOnExit = (): void => {
    if (keepDir) rmSync(keepDir, { recursive: true, force: true });
  };
  const onAbort = (): void => {
    void cast.close();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    step(null, {
      actor: "lab",
      step: "setup",
      text:
        `The lab is up on 127.0.0.1, keys made for this run: ${cast.host} (the backend) on port ${cast.backend.port}, ` +
        `the attacker's proxy on port ${cast.proxy.port}. The device trusts ${cast.root.subject}. ` +
        `The app's token, made up for this run: ${cast.token}.`,
      route: [],
      data: {
        host: cast.host,
        backend: `127.0.0.1:${cast.backend.port}`,
        proxy: `http://127.0.0.1:${cast.proxy.port}`,
        chain: [cast.leaf.subject, cast.intermediate.subject, cast.root.subject],
        attackerCa: cast.attackerCa.subject,
        pins: cast.pins,
        token: cast.token,
      },
    });
    const outcomes: LabOutcomeEvent[] = [];
    for (const scenario of scenarios) {
      signal?.throwIfAborted();
      const id = scenario.id;
      const logStart = cast.proxy.log.length;
      const bytesStart = cast.proxy.appBytes;
      const hitsStart = cast.backend.hits;
      const context: ScenarioContext = {
        cast,
        scenario: id,
        step: (narrated) => step(id, narrated),
        onKeylog: options.onKeylog,
      };
      step(id, {
        actor: "lab",
        step: "setup",
        // A what-if's title says what it is ("What if: …"); a preset is named by its number.
        text: `${id === labWhatIfScenario ? "" : `Scenario ${id}: `}${scenario.title}. ${scenario.proves}`,
        route: [],
        data: {
          title: scenario.title,
          proves: scenario.proves,
          expected: scenario.expected,
          whatIf: scenario.whatIf,
        },
      });
      const observed = await scenario.run(context);
      signal?.throwIfAborted();
      const outcome: LabOutcomeEvent = {
        v: 1,
        type: "outcome",
        scenario: id,
        ts: ts(),
        title: scenario.title,
        expected: scenario.expected,
        observed,
        ok: observed === scenario.expected,
        tokenLeaked: JSON.stringify(cast.proxy.log.slice(logStart)).includes(cast.token),
        attackerAppBytes: cast.proxy.appBytes - bytesStart,
        backendHits: cast.backend.hits - hitsStart,
      };
      outcomes.push(outcome);
      emit(outcome);
    }
    cast.device.remove(cast.attackerCa);

    if (options.keep && signal) {
      keepDir = await mkdtemp(join(tmpdir(), "keypin-lab-"));
      process.once("exit", removeKeepDirOnExit);
      const info = await writeKeepFiles(cast, keepDir);
      step(null, {
        actor: "lab",
        step: "keep",
        text: `The cast keeps running until Ctrl-C. Files in ${keepDir}.`,
        route: [],
        data: info,
      });
      // From now on, narrate what the proxy and the backend see from your own tools.
      cast.proxy.onLog = (entry) => step(null, proxyLogStep(entry));
      cast.backend.onRequest = (request) =>
        step(null, {
          actor: "backend",
          step: "serve",
          text:
            `${cast.host} served ${request.method} ${request.path} → ${request.status}` +
            (request.authorized ? " (valid token)" : ""),
          route: [],
          data: { ...request },
        });
    }

    const summary: LabSummary = {
      ok: outcomes.every((o) => o.ok),
      scenarios: outcomes.map((o) => ({
        scenario: o.scenario,
        title: o.title,
        expected: o.expected,
        observed: o.observed,
        ok: o.ok,
        tokenLeaked: o.tokenLeaked,
      })),
      durationMs: Date.now() - started,
      outcomes,
    };
    const { outcomes: _outcomes, ...rest } = summary;
    const summaryEvent: LabSummaryEvent = { v: 1, type: "summary", scenario: null, ts: ts(), ...rest };
    emit(summaryEvent);

    if (options.keep && signal && !signal.aborted) {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    }
    return summary;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    cast.proxy.onLog = undefined;
    cast.backend.onRequest = undefined;
    await cast.close();
    if (keepDir) {
      await rm(keepDir, { recursive: true, force: true });
      process.off("exit", removeKeepDirOnExit);
    }
  }
}
