// One lab event as a row of the sequence diagram: arrows between the four lanes' lifelines, the narration,
// and (opened) every value the lab observed in that step.
import { type Child, h, kv, marked } from "./dom.js";
import type { Actor, OutcomeEvent, StepEvent, Values } from "./types.js";

/** The lane a hop name is drawn on (0 app … 3 backend). */
export function laneOf(hop: string): number {
  if (hop === "app") return 0;
  if (hop.startsWith("device")) return 1;
  if (hop.startsWith("proxy")) return 2;
  return 3; // the backend's host name (api.myapp.com)
}

/** The lanes, left to right; a route's hop names map onto them. */
export const lanes = ["app", "device", "proxy", "backend"] as const;
const laneLabel: Record<string, string> = {
  app: "app",
  device: "device trust store",
  proxy: "attacker's proxy",
  backend: "api.myapp.com",
  lab: "lab",
};

const hopName = (hop: string): string =>
  hop === "✕" ? "✕ cancelled" : (laneLabel[lanes[laneOf(hop)] as string] ?? hop);

/** A lane's centre is grid line 2·lane+2 of the eight half-lane columns. */
const centre = (lane: number): number => 2 * lane + 2;

function place(el: HTMLElement, from: number, to: number): HTMLElement {
  el.style.gridColumn = `${from} / ${to}`;
  return el;
}

/** The drawing of one step: arrows for its route, a dot for an actor acting alone, a ✕ for a cancel. */
export function lanesRow(event: StepEvent, reach: number): HTMLElement {
  const row = h("div", { class: "lanes", "aria-hidden": "true" });
  const route = event.route;
  const hops = route.filter((hop) => hop !== "✕");
  const cancelled = route.includes("✕");
  for (let i = 0; i + 1 < hops.length; i++) {
    const a = laneOf(hops[i] as string);
    const b = laneOf(hops[i + 1] as string);
    if (a === b) continue;
    const touchesProxy = a === 2 || b === 2;
    const seg = h("span", { class: `seg ${a < b ? "ltr" : "rtl"}${touchesProxy ? " hop-proxy" : ""}` });
    row.append(place(seg, centre(Math.min(a, b)), centre(Math.max(a, b))));
  }
  if (cancelled) {
    // The failure's own path: the connection the app opened, dashed, turned back into a ✕ at the app.
    row.append(place(h("span", { class: "seg cancelled" }), centre(0), centre(Math.max(1, reach))));
    row.append(place(h("span", { class: "cancel", title: "connection cancelled" }, "✕"), 1, 3));
  }
  if (hops.length < 2 && !cancelled) {
    if (event.actor === "lab") row.append(place(h("span", { class: "note" }), 1, 9));
    else {
      const lane = lanes.indexOf(event.actor as (typeof lanes)[number]);
      row.append(place(h("span", { class: `dot ${event.actor}` }), 2 * lane + 1, 2 * lane + 3));
    }
  }
  return row;
}

/** The list item of one step event (the DOM contract the browser tests read). */
export function stepItem(
  seq: number,
  runId: string,
  event: StepEvent,
  context: { token: string | undefined; reach: number },
): HTMLLIElement {
  const token = context.token;
  const cancelled = event.route.includes("✕");
  const scenario = event.scenario === null ? "" : String(event.scenario);
  const li = h("li", {
    class: `step${cancelled ? " failed" : ""}`,
    id: `step-${seq}`,
    "data-seq": seq,
    "data-scenario": scenario,
    "data-step": event.step,
    "data-actor": event.actor,
  });
  const routeText =
    event.route.length > 0
      ? `Route: ${event.route.map(hopName).join(" → ")}.`
      : `At the ${laneLabel[event.actor]}.`;
  const summary = h(
    "summary",
    {},
    lanesRow(event, context.reach),
    h(
      "span",
      { class: "step-line" },
      h("span", { class: `who ${event.actor}` }, event.actor),
      h("span", { class: "step-text" }, event.text),
    ),
    h("span", { class: "sr" }, ` ${routeText}${cancelled ? " The connection is cancelled at the app." : ""}`),
  );
  const link = `#run=${encodeURIComponent(runId)}&scenario=${scenario}&step=${seq}`;
  const body = h(
    "div",
    { class: "values" },
    values(event, token),
    h(
      "p",
      {},
      h("a", { class: "permalink", href: link }, `Link to step ${seq}`),
      ` · ${event.step} · ${event.ts}`,
    ),
  );
  li.append(h("details", {}, summary, body));
  return li;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Values => (v && typeof v === "object" && !Array.isArray(v) ? (v as Values) : {});
const code = (text: string, cls = "pin"): HTMLElement => h("code", { class: cls }, text);

/** One pin of a verified path, with the slot its openssl command is filled into. */
function pinEntry(subject: string, pin: string): HTMLLIElement {
  return h(
    "li",
    { "data-pin": pin },
    subject,
    " ",
    code(pin),
    h("code", { class: "openssl", "data-pending": "true" }, "openssl command: loading…"),
  );
}

function certRows(list: unknown[]): { subject: string; issuer: string; pin: string; pem: string }[] {
  return list.map((c) => {
    const o = obj(c);
    return {
      subject: str(o["subject"]) ?? "",
      issuer: str(o["issuer"]) ?? "",
      pin: str(o["pin"]) ?? "",
      pem: str(o["pem"]) ?? "",
    };
  });
}

/** The certificate the app was shown beside the real server's, position by position. */
function certificateCompare(data: Values): HTMLElement | null {
  const presented = certRows(arr(data["presented"]));
  const real = certRows(arr(data["real"]));
  if (presented.length === 0 && real.length === 0) return null;
  const table = h(
    "table",
    { class: "compare-table" },
    h("caption", { class: "sr" }, "The certificates the app was shown, beside the real server's"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "#"),
        h("th", { scope: "col" }, "shown to the app"),
        h("th", { scope: "col" }, "the real api.myapp.com"),
      ),
    ),
  );
  const tbody = h("tbody");
  const n = Math.max(presented.length, real.length);
  const cell = (c: (typeof presented)[number] | undefined, differs: boolean): HTMLTableCellElement =>
    c
      ? h(
          "td",
          { class: differs ? "differs" : null },
          c.subject,
          h("br"),
          "issued by ",
          c.issuer,
          h("br"),
          code(c.pin),
          c.pem ? h("details", {}, h("summary", {}, "PEM"), h("pre", {}, c.pem)) : null,
        )
      : h("td", {}, "—");
  for (let i = 0; i < n; i++) {
    const p = presented[i];
    const r = real[i];
    const differs = !p || !r || p.pin !== r.pin;
    tbody.append(h("tr", {}, h("th", { scope: "row" }, String(i)), cell(p, differs), cell(r, differs)));
  }
  table.append(tbody);
  return h("div", {}, h("h4", {}, "Shown vs the real server"), table);
}

function policyBlock(policy: unknown): Child {
  if (!policy) return null;
  return h(
    "details",
    {},
    h("summary", {}, "The pin set in force (keypin.json)"),
    h("pre", {}, JSON.stringify(policy, null, 2)),
  );
}

/** The observed values of a step, by step id; anything not drawn specially is listed under "all values". */
function values(event: StepEvent, token: string | undefined): HTMLElement {
  const d = event.data;
  const box = h("div", {});
  const add = (...nodes: Child[]) => {
    for (const n of nodes) if (n) box.append(typeof n === "number" ? String(n) : n);
  };
  switch (event.step) {
    case "request":
      add(
        kv([
          ["request", `${str(d["method"]) ?? ""} ${str(d["url"]) ?? ""}`],
          [
            "token",
            d["token"] !== undefined
              ? [h("mark", { class: "token" }, String(d["token"])), " (made up by the lab for this run)"]
              : undefined,
          ],
          ["proxy", d["proxy"] === null ? "none: straight to the server" : str(d["proxy"])],
          [
            "app's pins",
            arr(d["pins"]).length
              ? h(
                  "ul",
                  {},
                  arr(d["pins"]).map((p) => h("li", {}, code(String(p)))),
                )
              : "none (the app does not pin)",
          ],
          [
            "device trusts",
            h(
              "ul",
              {},
              arr(d["anchors"]).map((a) => h("li", {}, String(a))),
            ),
          ],
        ]),
        policyBlock(d["policy"]),
      );
      break;
    case "intercept":
      add(
        kv([
          ["CONNECT", str(d["connect"]) ?? undefined],
          ["forged for", str(d["subject"]) ?? undefined],
          ["signed by", str(d["issuer"]) ?? undefined],
          ["appended", arr(d["appended"]).length ? arr(d["appended"]).map(String).join("; ") : undefined],
        ]),
      );
      break;
    case "certificate":
      add(
        kv([
          ["subject", str(d["subject"])],
          ["issuer", str(d["issuer"])],
        ]),
        certificateCompare(d),
      );
      break;
    case "trust":
      add(
        kv([
          [
            "verified path",
            h(
              "ol",
              {},
              arr(d["path"]).map((s) => h("li", {}, String(s))),
            ),
          ],
          ["anchor", d["anchor"] ? h("strong", {}, String(d["anchor"])) : "none: no anchor vouched for it"],
          [
            "device's store",
            h(
              "ul",
              {},
              arr(d["store"]).map((s) => h("li", {}, String(s))),
            ),
          ],
        ]),
      );
      break;
    case "extract-pin": {
      const certs = arr(d["certificates"]).length ? arr(d["certificates"]) : arr(d["chainPins"]);
      add(
        h(
          "h4",
          {},
          "Pins of the verified path, and the openssl command that reproduces each from the run's files",
        ),
        h(
          "ul",
          { class: "pins-list" },
          certs.map((c) => pinEntry(str(obj(c)["subject"]) ?? "", str(obj(c)["pin"]) ?? "")),
        ),
      );
      break;
    }
    case "compare": {
      const matched = d["matched"];
      const m = obj(matched);
      add(
        kv([
          [
            "pin set",
            arr(d["expectedPins"]).length
              ? h(
                  "ul",
                  {},
                  arr(d["expectedPins"]).map((p) => h("li", {}, code(String(p)))),
                )
              : "empty",
          ],
          [
            "result",
            matched === null
              ? h("span", { class: "mismatch" }, "no pin of the verified path is in the pin set")
              : matched !== undefined
                ? h(
                    "span",
                    { class: "match" },
                    `${str(m["subject"]) ?? ""} (position ${num(m["position"]) ?? "?"}) matches `,
                    code(str(m["pin"]) ?? ""),
                  )
                : d["reason"] !== undefined
                  ? `not enforced: ${String(d["reason"])}`
                  : undefined,
          ],
          [
            "warnings",
            arr(d["warnings"]).length
              ? h(
                  "ul",
                  {},
                  arr(d["warnings"]).map((w) => h("li", {}, String(w))),
                )
              : undefined,
          ],
        ]),
      );
      break;
    }
    case "decision":
      add(
        kv([
          ["error", str(d["code"]) ? code(String(d["code"]), "err") : undefined],
          ["host", d["host"] !== undefined ? `${String(d["host"])}:${String(d["port"] ?? "")}` : undefined],
        ]),
        // Filled from the scenario's outcome (the proxy's own counter), when it arrives.
        h(
          "p",
          { class: "attacker-bytes", "data-scenario": event.scenario ?? "" },
          "The attacker's byte counter: known at the scenario's end.",
        ),
      );
      break;
    case "decrypt": {
      const headers = obj(d["headers"]);
      const bytes = num(d["appBytes"]);
      add(
        kv([
          [
            "attacker read",
            bytes !== undefined
              ? h(
                  "span",
                  { class: "attacker-bytes", "data-attacker-bytes": bytes },
                  `${bytes} bytes of application data`,
                )
              : undefined,
          ],
          ["logged", str(d["startLine"])],
        ]),
        Object.keys(headers).length
          ? h(
              "div",
              {},
              h("h4", {}, "The attacker's log"),
              h(
                "pre",
                { class: "proxy-log" },
                ...Object.entries(headers).flatMap(([k, v]) => [`${k}: `, ...marked(String(v), token), "\n"]),
              ),
            )
          : null,
        str(d["body"]) !== undefined
          ? h("pre", { class: "proxy-log" }, ...marked(String(d["body"]), token))
          : null,
        Object.keys(headers).length === 0 && str(d["body"]) === undefined && bytes === 0
          ? h(
              "p",
              { class: "proxy-log-empty" },
              "The attacker's log for this connection: empty, no request, no token.",
            )
          : null,
        arr(d["sessions"]).length
          ? h(
              "ul",
              {},
              arr(d["sessions"]).map((s, i) =>
                h(
                  "li",
                  {},
                  `TLS session ${i + 1}: handshake ${obj(s)["handshake"] ? "completed" : "not completed"}, ${String(obj(s)["appBytes"])} application bytes`,
                ),
              ),
            )
          : null,
      );
      break;
    }
    case "serve":
      add(
        kv([
          ["requests served", num(d["backendHits"]) ?? undefined],
          [
            "log",
            arr(d["requests"]).length
              ? h(
                  "ul",
                  {},
                  arr(d["requests"]).map((r) => h("li", {}, JSON.stringify(r))),
                )
              : undefined,
          ],
        ]),
      );
      break;
    case "response":
      add(
        kv([["status", num(d["status"])]]),
        str(d["body"]) !== undefined ? h("pre", {}, String(d["body"])) : null,
      );
      break;
    case "setup":
      add(
        kv([
          ["title", str(d["title"])],
          ["proves", str(d["proves"])],
          ["expected", str(d["expected"])],
          ["installed", str(d["installed"])],
          ["its pin", str(d["pin"]) ? code(String(d["pin"])) : undefined],
          [
            "device trusts",
            arr(d["store"]).length
              ? h(
                  "ul",
                  {},
                  arr(d["store"]).map((s) => h("li", {}, String(s))),
                )
              : undefined,
          ],
        ]),
        policyBlock(d["policy"]),
      );
      break;
  }
  const rest = JSON.stringify(
    d,
    (k, v) => (k === "pem" && typeof v === "string" ? `(PEM, ${v.length} characters)` : v),
    2,
  );
  if (rest !== "{}")
    box.append(
      h("details", { class: "raw" }, h("summary", {}, "All values of this step"), h("pre", {}, rest)),
    );
  return box;
}

/** The line that ends a scenario in the diagram. */
export function outcomeItem(event: OutcomeEvent): HTMLLIElement {
  return h(
    "li",
    { class: `outcome ${event.ok ? "ok" : "not-ok"}`, "data-outcome-line": event.scenario },
    `Scenario ${event.scenario} ends: ${event.observed} (expected ${event.expected}) ${event.ok ? "✓" : "✗ not as expected"} · `,
    `token ${event.tokenLeaked ? "in the attacker's log" : "never seen by the attacker"} · attacker read ${event.attackerAppBytes} bytes · backend served ${event.backendHits}`,
  );
}

export function scenarioHead(
  runId: string,
  scenario: number | null,
  title: string,
  proves: string,
): HTMLLIElement {
  return h(
    "li",
    { class: "scenario-head", id: `scenario-${scenario ?? "run"}` },
    h(
      "h3",
      {},
      scenario === null ? "The run" : scenario === 0 ? `What if: ${title}` : `Scenario ${scenario}: ${title}`,
    ),
    proves ? h("p", {}, proves) : null,
    scenario === null
      ? null
      : h(
          "p",
          {},
          h(
            "a",
            { class: "permalink", href: `#run=${encodeURIComponent(runId)}&scenario=${scenario}` },
            `Link to ${scenario === 0 ? "this what-if" : `scenario ${scenario}`}`,
          ),
        ),
  );
}

export function actorLabel(actor: Actor): string {
  return laneLabel[actor] ?? actor;
}
