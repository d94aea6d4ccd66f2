// The keypin lab page: the run streamed as server-sent events (EventSource resumes with Last-Event-ID by
// itself), drawn as a sequence diagram; presets and "what if" runs; the outcomes, the pin set on each
// platform, the run's files. Same origin only (CSP default-src 'self'): no CDN, no inline script.
import { clear, h } from "./dom.js";
import { laneOf, outcomeItem, scenarioHead, stepItem } from "./render.js";
import type {
  LabEvent,
  LabInfo,
  OutcomeEvent,
  PinChoice,
  PinCommand,
  Platforms,
  RunFile,
  ScenarioInfo,
  StepEvent,
  WhatIf,
} from "./types.js";

const $ = <T extends Element = HTMLElement>(selector: string): T => {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`the page lacks ${selector}`);
  return el;
};
const stepsList = $<HTMLOListElement>("#steps");
const outcomesBody = $<HTMLTableSectionElement>("#outcomes tbody");
const narration = $("#narration");
const statusLine = $("#status");
const platformSelect = $<HTMLSelectElement>("#platform-scenario");
const platformList = $("#platform-list");
const filesList = $("#files");
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

interface Run {
  id: string;
  source: EventSource | null;
  seen: Set<number>;
  /** The scenario of the last step drawn (undefined before the first). */
  scenario: number | null | undefined;
  token: string | undefined;
  /** The lane the app's connection reaches in the current attempt (the proxy or the backend). */
  reach: number;
  pins: Map<string, PinCommand>;
  pinsLoading: boolean;
  pinsAgain: boolean;
  ended: boolean;
  /** Steps drawn since the last frame: marked `shown-<seq>` on the Performance timeline once painted. */
  unpainted: number[];
}

let lab: LabInfo = { scenarios: [], runs: [], defaultRun: "r1" };
let run: Run | null = null;
let pending: { step?: number; scenario?: string } = {};
let platformShown = "";

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await errorMessage(response)}`);
  return (await response.json()) as T;
}
async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    return body.error?.message ?? response.statusText;
  } catch {
    return response.statusText;
  }
}

const narrate = (text: string): void => {
  narration.textContent = text;
};
function setStatus(text: string, error = false): void {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}

function readHash(): { run?: string; scenario?: string; step?: number } {
  const params = new URLSearchParams(location.hash.slice(1));
  const step = params.get("step");
  return {
    ...(params.get("run") ? { run: params.get("run") as string } : {}),
    ...(params.get("scenario") !== null ? { scenario: params.get("scenario") as string } : {}),
    ...(step !== null && /^\d+$/.test(step) ? { step: Number(step) } : {}),
  };
}
function writeHash(values: Record<string, string | number>): void {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) params.set(k, String(v));
  history.replaceState(null, "", `#${params.toString()}`);
}

const scenarioInfo = (n: number | null): ScenarioInfo | undefined => lab.scenarios.find((s) => s.id === n);

// ---- the run's stream ----

function openRun(id: string): void {
  run?.source?.close();
  clear(stepsList);
  clear(outcomesBody);
  clear(filesList);
  clear(platformSelect);
  clear(platformList);
  platformShown = "";
  document.body.dataset["run"] = id;
  document.body.dataset["runStatus"] = "running";
  const current: Run = {
    id,
    source: null,
    seen: new Set(),
    scenario: undefined,
    token: undefined,
    reach: 3,
    pins: new Map(),
    pinsLoading: false,
    pinsAgain: false,
    ended: false,
    unpainted: [],
  };
  run = current;
  setStatus(`Run ${id}: streaming…`);
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  current.source = source;
  source.addEventListener("lab", (message) => {
    if (run !== current) return;
    onEvent(current, Number(message.lastEventId), JSON.parse(message.data) as LabEvent);
  });
  source.addEventListener("end", (message) => {
    source.close();
    if (run !== current) return;
    const end = JSON.parse(message.data) as { status?: string; error?: { message?: string } };
    onEnd(current, end.status ?? "done", end.error?.message);
  });
  source.addEventListener("error", () => {
    if (run !== current || current.ended) return;
    // The browser reconnects by itself and sends Last-Event-ID; a run the server does not know stops here.
    setStatus(`Run ${id}: connection lost, reconnecting where the stream stopped…`, true);
    getJson(`/api/runs/${encodeURIComponent(id)}`).catch((error: Error) => {
      source.close();
      setStatus(`Run ${id} cannot be shown: ${error.message}`, true);
    });
  });
}

function onEvent(current: Run, seq: number, event: LabEvent): void {
  if (current.seen.has(seq)) return;
  current.seen.add(seq);
  if (event.type === "step") drawStep(current, seq, event);
  else if (event.type === "outcome") drawOutcome(event);
  else
    narrate(
      `Run finished in ${event.durationMs} ms: ${event.ok ? "every scenario ended as expected" : "some scenarios did NOT end as expected"}.`,
    );
}

function drawStep(current: Run, seq: number, event: StepEvent): void {
  if (event.scenario !== current.scenario) {
    current.scenario = event.scenario;
    const info = scenarioInfo(event.scenario);
    const title = typeof event.data["title"] === "string" ? event.data["title"] : (info?.title ?? "");
    const proves = typeof event.data["proves"] === "string" ? event.data["proves"] : (info?.proves ?? "");
    stepsList.append(scenarioHead(current.id, event.scenario, title, proves));
    if (event.scenario !== null) addPlatformOption(event.scenario, title);
  }
  if (typeof event.data["token"] === "string") current.token = event.data["token"];
  if (event.step === "request") current.reach = laneOf(event.route[1] ?? "backend");
  const li = stepItem(seq, current.id, event, { token: current.token, reach: current.reach });
  stepsList.append(li);
  performance.mark(`step-${seq}`);
  if (current.unpainted.push(seq) === 1) {
    requestAnimationFrame(() => {
      for (const s of current.unpainted) performance.mark(`shown-${s}`);
      current.unpainted = [];
    });
  }
  if (event.step === "extract-pin") {
    fillPins(current);
    loadPins(current);
  }
  narrate(event.text);
  if (pending.step === seq) {
    pending = {};
    reveal(li);
  } else if (
    pending.step === undefined &&
    pending.scenario !== undefined &&
    pending.scenario === String(event.scenario)
  ) {
    pending = {};
    document.getElementById(`scenario-${event.scenario ?? "run"}`)?.scrollIntoView({ block: "start" });
  }
}

function drawOutcome(event: OutcomeEvent): void {
  stepsList.append(outcomeItem(event));
  const row = h(
    "tr",
    {
      "data-outcome": event.scenario,
      "data-observed": event.observed,
      "data-attacker-bytes": event.attackerAppBytes,
      "data-backend-hits": event.backendHits,
    },
    h("td", {}, String(event.scenario)),
    h("td", {}, event.title),
    h("td", {}, event.expected),
    h("td", {}, event.observed),
    h("td", { class: event.ok ? "yes" : "no" }, event.ok ? "yes ✓" : "no ✗"),
    h("td", {}, `${event.attackerAppBytes}${event.tokenLeaked ? " (token stolen)" : ""}`),
    h("td", {}, String(event.backendHits)),
  );
  outcomesBody.append(row);
  for (const slot of stepsList.querySelectorAll<HTMLElement>(
    `li.step[data-scenario="${event.scenario}"][data-step="decision"] p.attacker-bytes`,
  )) {
    slot.dataset["attackerBytes"] = String(event.attackerAppBytes);
    slot.textContent = `The attacker's byte counter for this scenario: ${event.attackerAppBytes} bytes of application data read from the app; the backend served ${event.backendHits}.`;
  }
  narrate(`Scenario ${event.scenario}, ${event.title}: ${event.observed} (expected ${event.expected}).`);
}

function onEnd(current: Run, status: string, message?: string): void {
  current.ended = true;
  document.body.dataset["runStatus"] = status;
  setStatus(
    `Run ${current.id}: ${status}${message ? ` (${message})` : ""}. ${current.seen.size} events.`,
    status !== "done",
  );
  loadPins(current);
  loadFiles(current);
  const first = platformSelect.options[0];
  if (!platformShown && first) loadPlatforms(current, first.value);
}

// ---- pins and their openssl commands ----

function loadPins(current: Run): void {
  if (current.pinsLoading) {
    current.pinsAgain = true;
    return;
  }
  current.pinsLoading = true;
  getJson<PinCommand[]>(`/api/runs/${encodeURIComponent(current.id)}/pins`)
    .then((list) => {
      for (const p of list) current.pins.set(`${p.scenario}|${p.pin}`, p);
      fillPins(current);
    })
    .catch((error: Error) => setStatus(`The pins' commands could not load: ${error.message}`, true))
    .finally(() => {
      current.pinsLoading = false;
      if (current.pinsAgain) {
        current.pinsAgain = false;
        loadPins(current);
      } else if (current.ended) document.body.dataset["pins"] = "loaded";
    });
}

function fillPins(current: Run): void {
  for (const slot of stepsList.querySelectorAll<HTMLElement>("code.openssl[data-pending]")) {
    const item = slot.closest<HTMLElement>("[data-pin]");
    const step = slot.closest<HTMLElement>("li.step");
    const found = current.pins.get(`${step?.dataset["scenario"] ?? ""}|${item?.dataset["pin"] ?? ""}`);
    if (!found) continue;
    slot.textContent = found.command;
    slot.title = `reproduces the pin from ${found.file}`;
    slot.removeAttribute("data-pending");
  }
}

// ---- "On your platform" ----

function addPlatformOption(scenario: number, title: string): void {
  if ([...platformSelect.options].some((o) => o.value === String(scenario))) return;
  platformSelect.append(
    h("option", { value: scenario }, `${scenario === 0 ? "what if" : scenario}: ${title}`),
  );
}

function loadPlatforms(current: Run, scenario: string): void {
  platformShown = scenario;
  platformSelect.value = scenario;
  getJson<Platforms>(
    `/api/runs/${encodeURIComponent(current.id)}/platforms?scenario=${encodeURIComponent(scenario)}`,
  )
    .then((p) => {
      if (run !== current || platformShown !== scenario) return;
      clear(platformList);
      if (!p.policy || p.platforms.length === 0) {
        platformList.append(
          h(
            "p",
            {},
            "The app has no pin set in this scenario: there is nothing to configure, and every platform trusts the device's store, as drawn above.",
          ),
        );
        return;
      }
      platformList.append(
        h(
          "p",
          {},
          "The pin set this scenario's app had, written for each platform by @keypin/export: the configuration that gives this result.",
        ),
      );
      p.platforms.forEach((platform, i) => {
        platformList.append(
          h(
            "details",
            { open: i === 0, "data-platform": platform.id },
            h("summary", {}, `${platform.label} (${platform.language})`),
            h("p", {}, "File: ", h("code", {}, platform.filename)),
            h("pre", {}, platform.text),
            platform.notes.length
              ? h(
                  "ul",
                  { class: "notes" },
                  platform.notes.map((n) => h("li", {}, n)),
                )
              : null,
          ),
        );
      });
    })
    .catch((error: Error) => {
      clear(platformList);
      platformList.append(h("p", { class: "error" }, `Could not load the platforms: ${error.message}`));
    });
}

// ---- downloads ----

function loadFiles(current: Run): void {
  getJson<RunFile[]>(`/api/runs/${encodeURIComponent(current.id)}/files`)
    .then((files) => {
      if (run !== current) return;
      clear(filesList);
      for (const f of files) {
        filesList.append(
          h(
            "li",
            {},
            h(
              "a",
              {
                href: `/api/runs/${encodeURIComponent(current.id)}/files/${encodeURIComponent(f.name)}`,
                download: f.name,
              },
              f.name,
            ),
            ` (${f.size} bytes): ${f.description}`,
          ),
        );
      }
    })
    .catch((error: Error) =>
      filesList.append(h("li", { class: "error" }, `The files could not load: ${error.message}`)),
    );
}

// ---- starting runs ----

async function startRun(body: { scenarios: number[] } | { whatIf: WhatIf }): Promise<void> {
  const response = await fetch("/api/runs", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status === 409) {
    narrate("A run is still going: wait for it to end, then start this one.");
    setStatus("Another run is still going.", true);
    return;
  }
  if (response.status !== 201) {
    setStatus(`The run could not start: ${await errorMessage(response)}`, true);
    return;
  }
  const { id } = (await response.json()) as { id: string };
  writeHash({ run: id });
  pending = {};
  openRun(id);
}

function renderPresets(): void {
  const box = $("#presets");
  box.append(
    h("button", { type: "button", "data-preset": "all" }, `All ${lab.scenarios.length} scenarios`),
    ...lab.scenarios.map((s) =>
      h("button", { type: "button", "data-preset": s.id, title: s.proves }, `${s.id}. ${s.title}`),
    ),
  );
  box.addEventListener("click", (event) => {
    const button = (event.target as Element).closest<HTMLButtonElement>("button[data-preset]");
    if (!button) return;
    const preset = button.dataset["preset"];
    void startRun({ scenarios: preset === "all" ? lab.scenarios.map((s) => s.id) : [Number(preset)] });
  });
  const from = $<HTMLSelectElement>("#whatif-from");
  for (const s of lab.scenarios)
    if (s.whatIf) from.append(h("option", { value: s.id }, `scenario ${s.id}: ${s.title}`));
  const form = $<HTMLFormElement>("#whatif");
  from.addEventListener("change", () => {
    const w = scenarioInfo(Number(from.value))?.whatIf ?? {
      attackerCaInstalled: false,
      viaProxy: false,
      pins: [],
      rotated: false,
      expired: false,
    };
    for (const name of ["attackerCaInstalled", "viaProxy", "rotated", "expired"] as const) {
      (form.elements.namedItem(name) as HTMLInputElement).checked = w[name];
    }
    for (const box of form.querySelectorAll<HTMLInputElement>('input[name="pin"]'))
      box.checked = w.pins.includes(box.value as PinChoice);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const checked = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).checked;
    void startRun({
      whatIf: {
        attackerCaInstalled: checked("attackerCaInstalled"),
        viaProxy: checked("viaProxy"),
        rotated: checked("rotated"),
        expired: checked("expired"),
        pins: [...form.querySelectorAll<HTMLInputElement>('input[name="pin"]:checked')].map(
          (b) => b.value as PinChoice,
        ),
      },
    });
  });
}

// ---- keyboard stepping, focus, permalinks ----

function reveal(li: HTMLElement): void {
  const details = li.querySelector("details");
  if (details) details.open = true;
  li.querySelector<HTMLElement>("summary")?.focus({ preventScroll: true });
  li.scrollIntoView({ block: "center", behavior: reducedMotion.matches ? "auto" : "smooth" });
}

function focusStep(li: Element | null | undefined): void {
  li?.querySelector<HTMLElement>(":scope > details > summary")?.focus();
}

stepsList.addEventListener("keydown", (event) => {
  const li = (event.target as Element).closest("li.step");
  if (!li || event.altKey || event.ctrlKey || event.metaKey) return;
  const all = [...stepsList.querySelectorAll("li.step")];
  const i = all.indexOf(li);
  const target =
    event.key === "ArrowDown" || event.key === "j"
      ? all[i + 1]
      : event.key === "ArrowUp" || event.key === "k"
        ? all[i - 1]
        : event.key === "Home"
          ? all[0]
          : event.key === "End"
            ? all[all.length - 1]
            : undefined;
  if (!target) return;
  event.preventDefault();
  focusStep(target);
});
document.addEventListener("keydown", (event) => {
  if (document.activeElement !== document.body || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.key === "j" || event.key === "k") {
    event.preventDefault();
    focusStep(stepsList.querySelector("li.step"));
  }
});
stepsList.addEventListener("focusin", (event) => {
  const li = (event.target as Element).closest<HTMLElement>("li.step");
  if (!li || !run) return;
  const scenario = li.dataset["scenario"] ?? "";
  writeHash({ run: run.id, scenario, step: li.dataset["seq"] ?? "" });
  if (scenario !== "" && scenario !== platformShown && run.ended) loadPlatforms(run, scenario);
});
platformSelect.addEventListener("change", () => {
  if (run) loadPlatforms(run, platformSelect.value);
});
window.addEventListener("hashchange", () => {
  const hash = readHash();
  if (hash.run && hash.run !== run?.id) {
    pending = {
      ...(hash.step !== undefined ? { step: hash.step } : {}),
      ...(hash.scenario !== undefined ? { scenario: hash.scenario } : {}),
    };
    openRun(hash.run);
  } else if (hash.step !== undefined) {
    const li = document.getElementById(`step-${hash.step}`);
    if (li) reveal(li);
    else pending = { step: hash.step };
  } else if (hash.scenario !== undefined) {
    const head = document.getElementById(`scenario-${hash.scenario}`);
    if (head) head.scrollIntoView({ block: "start", behavior: reducedMotion.matches ? "auto" : "smooth" });
    else pending = { scenario: hash.scenario };
  }
});

async function main(): Promise<void> {
  try {
    lab = await getJson<LabInfo>("/api/lab");
  } catch (error) {
    setStatus(`The lab could not load: ${(error as Error).message}`, true);
    return;
  }
  renderPresets();
  const hash = readHash();
  pending = {
    ...(hash.step !== undefined ? { step: hash.step } : {}),
    ...(hash.scenario !== undefined ? { scenario: hash.scenario } : {}),
  };
  openRun(hash.run ?? lab.defaultRun);
  document.body.dataset["loaded"] = "true";
}

void main();
