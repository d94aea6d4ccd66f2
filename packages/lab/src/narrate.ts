import picocolors from "picocolors";
import type {
  LabActor,
  LabEvent,
  LabKeepInfo,
  LabOutcomeEvent,
  LabStepEvent,
  LabSummaryEvent,
} from "./events.js";
import { ShortNarration } from "./narrate-short.js";
import { formatCommand } from "./run-lab.js";
import { labWhatIfScenario } from "./what-if/what-if.js";

/**
 * Picocolors' formatters, colored or plain.
 *
 * @example
 * const colors: LabColors = picocolors.createColors(process.stdout.isTTY === true);
 */
export type LabColors = ReturnType<typeof picocolors.createColors>;

/**
 * Options of {@link LabNarrator}.
 *
 * @example
 * new LabNarrator({ width: process.stdout.columns ?? 100 } satisfies LabNarratorOptions);
 */
export interface LabNarratorOptions {
  /** Colors to use; default none (plain text). The CLI passes colors only for a terminal without NO_COLOR. */
  colors?: LabColors;
  /** Line width to wrap the narration at; default 100. */
  width?: number;
  /**
   * Each step's own text, in full (`keypin lab --verbose`). Default: the short narration, which says what
   * repeats from one scenario to the next (the request, the installed CA, the forgery, the body) once and
   * keeps every step and every observed value.
   */
  verbose?: boolean;
}

const routeWidth = 28;
const ansi = /\u001b\[[0-9;]*m/g;

function visible(text: string): number {
  return text.replace(ansi, "").length;
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - visible(text)));
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && visible(line) + 1 + visible(word) > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

// The formats of `keypin export`, in its registry's order (packages/export/src/formats/index.ts). @keypin/lab
// does not depend on @keypin/export, so narrate.test.ts compares this list with the registry.
const keepExportFormats = [
  "android-nsc",
  "ios-ats",
  "trustkit",
  "okhttp-kotlin",
  "okhttp-java",
  "react-native",
  "node",
] as const;

/**
 * The keypin commands to try on a `--keep` cast, each with what it shows: inspect, init, check (straight to the
 * backend, then through the proxy) and export. keypin asks for api.myapp.com on port 443; `--connect-to` sends
 * it to the backend on 127.0.0.1 (or, through the proxy, to the backend's port), `--ca` trusts the lab's CA.
 *
 * @example
 * for (const [command] of keypinCommands(info)) console.log(formatCommand(command));
 */
export function keypinCommands(info: LabKeepInfo): [command: string[], note: string][] {
  const { host } = info;
  const direct = [
    "--connect-to",
    `${host}:443:${info.backend.address}:${info.backend.port}`,
    "--ca",
    info.files.labRoot,
  ];
  return [
    [["npx", "keypin", "inspect", host, ...direct], "the chain and each key's pin"],
    [["npx", "keypin", "init", host, ...direct, "--generate-backup", "lab-backup"], "writes keypin.json"],
    [["npx", "keypin", "check", ...direct], "ok: the pins match the backend"],
    [
      [
        "npx",
        "keypin",
        "check",
        "--proxy",
        info.proxy,
        "--connect-to",
        `${host}:443:${host}:${info.backend.port}`,
        "--ca",
        info.files.deviceStore,
      ],
      "pin-mismatch, exit 1: the pins catch the proxy",
    ],
    [
      ["npx", "keypin", "export", "--format", keepExportFormats[0]],
      `or ${keepExportFormats.slice(1).join(", ")}`,
    ],
  ];
}

/**
 * Turns lab events into the readable narration of `keypin lab`: a sequence line per step
 * (`app → proxy → api.myapp.com`) beside its text, an outcome line per scenario, a summary table, and
 * (with `--keep`) how to use the running cast. Holds the `keep` instructions until the summary is printed.
 *
 * @example
 * const narrator = new LabNarrator({ colors: picocolors.createColors(process.stdout.isTTY) });
 * await runLab({ onEvent: (event) => process.stdout.write(narrator.render(event)) });
 */
export class LabNarrator {
  readonly #c: LabColors;
  readonly #width: number;
  /** The short narration's memory of what it said; `undefined` with `verbose`. */
  readonly #short: ShortNarration | undefined;
  #keep: LabKeepInfo | undefined;

  constructor(options: LabNarratorOptions = {}) {
    this.#c = options.colors ?? picocolors.createColors(false);
    this.#width = Math.max(60, options.width ?? 100);
    this.#short = options.verbose ? undefined : new ShortNarration(this.#width - routeWidth - 4);
  }

  /** The text for one event (possibly empty), ending with a newline when not empty. */
  render(event: LabEvent): string {
    const lines = this.#lines(event);
    return lines.length > 0 ? `${lines.join("\n")}\n` : "";
  }

  #lines(event: LabEvent): string[] {
    switch (event.type) {
      case "step":
        return this.#step(event);
      case "outcome":
        return this.#outcome(event);
      case "summary":
        return this.#summary(event);
      default: {
        const unreachable: never = event;
        throw new Error(`unknown lab event ${JSON.stringify(unreachable)}`);
      }
    }
  }

  #actorColor(actor: string): (text: string) => string {
    const c = this.#c;
    const byActor: Record<LabActor, (text: string) => string> = {
      app: c.cyan,
      device: c.yellow,
      proxy: c.red,
      backend: c.green,
      lab: c.magenta,
    };
    if (actor in byActor) return byActor[actor as LabActor];
    if (actor === "client") return c.red;
    if (actor === "✕") return (text) => c.bold(c.red(text));
    return c.green; // the backend's host name
  }

  #step(event: LabStepEvent): string[] {
    const c = this.#c;
    // Every step goes through the short narration (its memory of what was said), headers included.
    const text = this.#short ? this.#short.text(event) : event.text;
    if (event.step === "keep") {
      this.#keep = event.data;
      return [];
    }
    if (event.scenario === null && event.actor === "lab" && event.step === "setup") {
      return [
        "",
        c.bold("keypin lab: an intercepting proxy against an app, live on 127.0.0.1"),
        ...this.#text(event.text, 2),
      ];
    }
    if (event.actor === "lab" && event.step === "setup" && typeof event.data["title"] === "string") {
      // A what-if run is not a numbered preset: its title ("What if: …") stands alone.
      const number = event.scenario === labWhatIfScenario ? "" : `${event.scenario} · `;
      const title = `${number}${event.data["title"]}`;
      const rule = "━".repeat(Math.max(3, Math.min(this.#width, 100) - visible(title) - 5));
      const proves = String(event.data["proves"] ?? "");
      return ["", c.bold(`━━ ${title} ${rule}`), ...this.#text(c.dim(proves), 3)];
    }
    const hops = event.route.length > 0 ? event.route : [event.actor];
    const route = hops.map((hop) => this.#actorColor(hop)(hop)).join(c.dim(" → "));
    const textWidth = this.#width - routeWidth - 4;
    const body = wrap(text, textWidth);
    return body.map((line, i) =>
      i === 0 ? `  ${pad(route, routeWidth)}  ${line}` : `  ${" ".repeat(routeWidth)}  ${line}`,
    );
  }

  #text(text: string, indent: number): string[] {
    return wrap(text, this.#width - indent).map((line) => " ".repeat(indent) + line);
  }

  #outcome(event: LabOutcomeEvent): string[] {
    const c = this.#c;
    const mark = event.ok ? c.green("✔") : c.red("✘");
    const observed = event.ok ? c.green(event.observed) : c.red(event.observed);
    const facts = [
      `expected ${event.expected}`,
      `token leaked: ${event.tokenLeaked ? c.red("yes") : "no"}`,
      `proxy read ${event.attackerAppBytes} bytes of app data`,
      `backend served ${event.backendHits}`,
    ];
    return [`  ${mark} ${c.bold(observed)}  ${c.dim(facts.join(" · "))}`];
  }

  #summary(event: LabSummaryEvent): string[] {
    const c = this.#c;
    const rows: string[][] = [["#", "scenario", "expected", "observed", "token leaked", ""]];
    for (const s of event.scenarios) {
      rows.push([
        String(s.scenario),
        s.title,
        s.expected,
        s.ok ? s.observed : c.red(s.observed),
        s.tokenLeaked ? c.red("yes") : "no",
        s.ok ? c.green("✔") : c.red("✘"),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => visible(row[i] ?? ""))));
    const table = rows.map((row, r) => {
      const line = `  ${row.map((cell, i) => pad(cell, widths[i] ?? 0)).join("  ")}`.trimEnd();
      return r === 0 ? c.bold(line) : line;
    });
    const failed = event.scenarios.filter((s) => !s.ok).length;
    const seconds = (event.durationMs / 1000).toFixed(1);
    const verdict =
      failed === 0
        ? c.green(
            `${event.scenarios.length === 1 ? "The scenario" : `All ${event.scenarios.length} scenarios`} ended as expected (${seconds} s).`,
          )
        : c.red(`${failed} of ${event.scenarios.length} scenarios did not end as expected (${seconds} s).`);
    const out = ["", c.bold("Summary"), ...table, "", `  ${verdict}`];
    if (this.#keep) out.push(...this.#keepLines(this.#keep));
    return out;
  }

  #keepLines(info: LabKeepInfo): string[] {
    const c = this.#c;
    const f = info.files;
    return [
      "",
      c.bold("The cast keeps running until Ctrl-C"),
      `  ${pad(c.green(info.host), 16)}${info.backend.origin} (listening on ${info.backend.address}:${info.backend.port}; the name is not in DNS, so tell your tool: curl --resolve)`,
      `  ${pad(c.red("proxy"), 16)}${info.proxy} (the attacker's intercepting proxy; it resolves ${info.host} itself)`,
      `  ${pad("token", 16)}${info.token} (made up for this run)`,
      `  ${pad("files", 16)}${info.dir}`,
      `  ${" ".repeat(16)}${f.labRoot}  the lab's public CA: what every device trusts`,
      `  ${" ".repeat(16)}${f.attackerCa}  the attacker's CA`,
      `  ${" ".repeat(16)}${f.deviceStore}  both: a device whose user installed the attacker's CA`,
      `  ${" ".repeat(16)}${f.policy}  a pin set for ${info.host} (leaf, intermediate, backup)`,
      `  ${pad("pins", 16)}leaf ${info.pins.leaf}`,
      `  ${" ".repeat(16)}intermediate ${info.pins.intermediate}`,
      `  ${" ".repeat(16)}backup ${info.pins.backup}`,
      `  ${" ".repeat(16)}attacker CA (and every leaf it forges) ${info.pins.attacker}`,
      "",
      `  ${c.bold("Straight to the backend, pinned")} (curl pins the server's own key):`,
      `    ${formatCommand(info.curl.direct)}`,
      `  ${c.bold("Through the proxy, not pinned")} (it works, and the proxy's log below shows your token):`,
      `    ${formatCommand(info.curl.throughProxy)}`,
      `  ${c.bold("Through the proxy, pinned")} (curl refuses the forged key: exit 90):`,
      `    ${formatCommand(info.curl.throughProxyPinned)}`,
      `  ${c.bold("Any proxy-aware tool")}: HTTPS_PROXY=${info.proxy}, trusting ${f.deviceStore}`,
      `  ${c.bold("keypin itself")}, from a folder of yours (init writes keypin.json and a backup key there; keypin is not on the npm registry, so outside this clone run \`npx --prefix <this clone> keypin …\` or \`npm link\` in packages/cli once):`,
      ...keypinCommands(info).map(
        ([command, note]) => `    ${formatCommand(command)}${note ? c.dim(`  # ${note}`) : ""}`,
      ),
      `  ${c.bold("Your own Node app")}: createPinnedDispatcher({ policy: "${f.policy}", ca: readFileSync("${f.deviceStore}", "utf8"), caOnly: true, proxy: "${info.proxy}" }): the pins stop the proxy (ERR_KEYPIN_PIN_MISMATCH); without \`proxy\` (and with \`connect: { lookup }\` mapping ${info.host} to 127.0.0.1) it reaches the backend`,
      "",
      c.dim(`Press Ctrl-C to stop: every port closes and ${info.dir} is deleted. What the cast sees:`),
    ];
  }
}
