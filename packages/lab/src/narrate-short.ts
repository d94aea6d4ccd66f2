// The short narration of `keypin lab` (the default; `--verbose` prints each step's own text): one terse
// sentence per step, written from the step's data, that says what repeats (the request, the installed CA,
// the forgery, the response body) in full the first time and as "the same" after. Every observed value
// stays: byte counts, backend hits, the pins compared, the decision's code, the token the proxy logged.
import type { ChainEntry, Pin, PolicyFile } from "@keypin/core";
import type { LabStepEvent } from "./events.js";

/** A pin's first 8 base64 characters, enough to tell the run's keys apart by eye: `sha256/J9ViF5ph…`. */
export function briefPin(pin: string): string {
  return `${pin.slice(0, "sha256/".length + 8)}…`;
}

/** The pins in a text, as the scenarios write them (`sha256/` and 12 characters, `…`), cut to briefPin's length. */
function briefPins(text: string): string {
  return text.replace(/(sha256\/[A-Za-z0-9+/]{8})[A-Za-z0-9+/]*…/g, "$1…");
}

/** A distinguished name's common name: `CN=Lab Public CA R1, O=…` → `Lab Public CA R1`. */
function cn(name: unknown): string {
  const text = String(name ?? "");
  const first = text.split(",")[0] ?? text;
  return first.startsWith("CN=") ? first.slice(3) : text;
}

const isString = (value: unknown): value is string => typeof value === "string";
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);
const isNumber = (value: unknown): value is number => typeof value === "number";

/** Who acts, as the step's own text names it before `verb` ("The app with a backup pin sends GET …"). */
function subjectOf(text: string, verb: string, fallback: string): string {
  const at = text.indexOf(` ${verb} `);
  return at > 0 ? text.slice(0, at) : fallback;
}

/**
 * The state of one short narration: what has been said in full already, so a repeat says "the same".
 *
 * @example
 * const short = new ShortNarration();
 * const line = short.text(event); // "Trusted: api.myapp.com ← Interceptor CA, the CA the user installed."
 */
export class ShortNarration {
  #request: { url: string; token: string; proxy: string | null } | undefined;
  #installed: { scenario: number | null; key: string } | undefined;
  #forgery: string | undefined;
  #decrypted: string | undefined;
  #bodies = new Set<string>();
  #attackerCa: string | undefined;
  /** The scenario that showed each pin set first (by its pins). */
  readonly #pinSets = new Map<string, number>();
  /** How long a text may be to fit the narration's one line. */
  readonly #oneLine: number;

  /** `lineWidth`: the characters a step's text has on one line. */
  constructor(lineWidth = 68) {
    this.#oneLine = lineWidth;
  }

  /** The short text of a step: written from its data, or its own text where that is short already. */
  text(event: LabStepEvent): string {
    return briefPins(this.#text(event) ?? event.text);
  }

  #text(event: LabStepEvent): string | undefined {
    const data = event.data as Record<string, unknown>;
    switch (event.step) {
      case "setup":
        return this.#setup(event, data);
      case "request":
        return this.#requestText(event, data);
      case "intercept":
        return this.#intercept(event, data);
      case "certificate":
        if (!isString(data["subject"])) return undefined;
        return `Shown ${data["subject"]}, issued by ${cn(data["issuer"])}.`;
      case "trust": {
        if (!isStrings(data["path"])) return undefined;
        const installed = this.#attackerCa !== undefined && data["anchor"] === this.#attackerCa;
        return `Trusted: ${data["path"].map(cn).join(" ← ")}${installed ? ", the CA the user installed" : ""}.`;
      }
      case "extract-pin":
        return this.#extractPin(data);
      case "compare":
        return this.#compare(event, data);
      case "decision":
        if (event.actor !== "app") return undefined;
        if (isString(data["code"]) && isString(data["host"])) {
          return `The app cancels the connection (${data["code"]}).`;
        }
        if (Object.keys(data).length === 0 && event.route.length > 1 && !event.route.includes("✕")) {
          return "Handshake done: the app sends its request, token included.";
        }
        return undefined;
      case "decrypt":
        return this.#decrypt(event, data);
      case "relay":
        if (event.scenario === null || !isString(data["host"]) || !isNumber(data["port"])) return undefined;
        return `The proxy relays it to the real ${data["host"]}:${data["port"]}, unnoticed.`;
      case "serve":
        return this.#serve(data);
      case "response": {
        if (!isNumber(data["status"]) || !isString(data["body"])) return undefined;
        const who = subjectOf(event.text, "gets", "The app");
        return `${who} gets ${data["status"]} ${this.#body(data["body"])}`;
      }
      default:
        return undefined;
    }
  }

  #setup(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    if (event.scenario === null && isString(data["attackerCa"])) this.#attackerCa = data["attackerCa"];
    if (event.actor === "device" && isString(data["installed"]) && isStrings(data["store"])) {
      const key = JSON.stringify([data["installed"], data["store"]]);
      if (this.#installed?.key === key) {
        const where = this.#installed.scenario === null ? "" : `, as in scenario ${this.#installed.scenario}`;
        return `The attacker's CA is installed again${where}.`;
      }
      this.#installed = { scenario: event.scenario, key };
      return `The user installs the attacker's CA, ${data["installed"]}: the device trusts ${data["store"].map(cn).join(" and ")}.`;
    }
    if (event.actor === "lab" && event.scenario !== null) return this.#scenarioSetup(event, data);
    if (event.actor === "backend" && isString(data["oldPin"]) && isString(data["newPin"])) {
      return `Rotated to the spare key ${briefPin(data["newPin"])}; ${briefPin(data["oldPin"])} is gone.`;
    }
    return undefined;
  }

  /** A scenario's own set-up: its text when that fits one line, else what its data says, shorter. */
  #scenarioSetup(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    const policy = data["policy"] as PolicyFile | undefined;
    const domain = policy && typeof policy === "object" ? Object.values(policy.domains ?? {})[0] : undefined;
    const pins = Array.isArray(domain?.pins)
      ? domain.pins.map((p) => (typeof p === "string" ? { pin: p, role: undefined } : p))
      : undefined;
    const key = pins ? JSON.stringify(pins.map((p) => p.pin)) : undefined;
    const shown = key === undefined ? undefined : this.#pinSets.get(key);
    if (key !== undefined && shown === undefined && event.scenario !== null)
      this.#pinSets.set(key, event.scenario);
    if (event.text.length <= this.#oneLine) return undefined;
    if (isString(data["appended"])) {
      return `A smarter proxy also sends the genuine, pinned ${cn(data["appended"])}.`;
    }
    if (pins && domain) {
      const expires = domain.expires ? `, with "expires": "${domain.expires}"` : "";
      if (shown !== undefined) return `The pin set of scenario ${shown}${expires}.`;
      return `Pin set: ${pins.map((p) => `${briefPin(p.pin)} (${p.role ?? "pin"})`).join(", ")}${expires}.`;
    }
    const lint = data["lint"] as { withoutBackup?: { code?: unknown }[] } | undefined;
    if (data["withBackup"] && data["withoutBackup"] && Array.isArray(lint?.withoutBackup)) {
      const codes = lint.withoutBackup.map((w) => String(w.code));
      return (
        "Two apps: one pins the leaf and a backup key, the other only the leaf" +
        (codes.length > 0 ? ` (keypin's lint warned: ${codes.join(", ")}).` : ".")
      );
    }
    return undefined;
  }

  #serve(data: Record<string, unknown>): string | undefined {
    const requests = data["requests"] as {
      method?: unknown;
      path?: unknown;
      status?: unknown;
      authorized?: unknown;
    }[];
    if (!isNumber(data["backendHits"]) || !Array.isArray(requests)) return undefined;
    if (data["backendHits"] === 0) return undefined; // "served nothing (its request counter did not move)"
    const served = requests.map(
      (r) => `${r.method} ${r.path} → ${r.status}${r.authorized ? ", valid token" : ""}`,
    );
    return `Served ${data["backendHits"]} request${data["backendHits"] === 1 ? "" : "s"}: ${served.join("; ")}.`;
  }

  #requestText(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    const { url, token } = data;
    const proxy = data["proxy"];
    if (!isString(url) || !isString(token) || !(proxy === null || isString(proxy))) return undefined;
    const who = subjectOf(event.text, "sends", "The app");
    const first = this.#request;
    if (first && first.url === url && first.token === token) {
      if (proxy === null || proxy === first.proxy) return `${who} sends the same request.`;
      this.#request = { ...first, proxy };
      return `${who} sends the same request via ${proxy}.`;
    }
    this.#request = { url, token, proxy };
    return (
      `${who} sends GET ${url} with "Authorization: Bearer ${token}"` +
      (proxy ? `; the network routes it through the proxy at ${proxy}.` : ".")
    );
  }

  #intercept(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    if (event.scenario === null || !isString(data["subject"]) || !isString(data["issuer"])) return undefined;
    const appended = isStrings(data["appended"]) ? data["appended"] : [];
    const connect = isString(data["connect"]) ? data["connect"] : "";
    const key = JSON.stringify([connect, data["subject"], data["issuer"]]);
    const again = this.#forgery === key;
    this.#forgery = key;
    return (
      // The issuer is the certificate step's: "Shown CN=api.myapp.com, issued by Interceptor CA."
      (again
        ? `The proxy forges ${data["subject"]} again`
        : `For CONNECT ${connect} the proxy forges ${data["subject"]}`) +
      (appended.length > 0 ? `, and appends the genuine ${appended.map(cn).join(", ")}.` : ".")
    );
  }

  #extractPin(data: Record<string, unknown>): string | undefined {
    const chain = data["chainPins"] as ChainEntry[] | undefined;
    if (!Array.isArray(chain) || chain.length === 0 || !chain.every((e) => isString(e?.pin)))
      return undefined;
    const pins = chain.map((entry) => entry.pin);
    if (pins.length > 1 && pins.every((pin) => pin === pins[0])) {
      return `Path pins: ${briefPin(pins[0]!)} ×${pins.length}: the forged leaf has its CA's key.`;
    }
    return `Path pins: ${pins.map(briefPin).join(", ")}.`;
  }

  #compare(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    const expected = data["expectedPins"] as Pin[] | undefined;
    if (!isStrings(expected)) return undefined;
    const set = expected.map(briefPin).join(", ");
    if (!("matched" in data)) {
      if (data["reason"] === "no-policy") return "No pin set for this host: the device's word is final.";
      if (data["reason"] === "expired") {
        const date = /expired on (\d{4}-\d{2}-\d{2})/.exec(event.text)?.[1];
        return `Pin set expired${date ? ` on ${date}` : ""}: not enforced, nothing compared.`;
      }
      return undefined;
    }
    const matched = data["matched"] as (ChainEntry & { position: number }) | null;
    if (matched === null) return `None of ${set} is on the path.`;
    if (!isString(matched.pin) || !isNumber(matched.position)) return undefined;
    return `${cn(matched.subject)} matches one of ${set}.`;
  }

  #decrypt(event: LabStepEvent, data: Record<string, unknown>): string | undefined {
    if (event.scenario === null) return undefined; // the live `--keep` log is short already
    const headers = data["headers"] as Record<string, string> | undefined;
    if (isNumber(data["appBytes"]) && isString(data["startLine"]) && headers) {
      const authorization = headers["authorization"] ?? "(none)";
      const key = JSON.stringify([data["appBytes"], data["startLine"], authorization]);
      if (this.#decrypted === key) return `Logged again, ${data["appBytes"]} bytes: ${authorization}.`;
      this.#decrypted = key;
      return `The proxy decrypts ${data["appBytes"]} bytes and logs ${data["startLine"]}, authorization: ${authorization}.`;
    }
    if (isNumber(data["appBytes"]) && Array.isArray(data["sessions"])) {
      const sessions = data["sessions"] as { handshake?: boolean }[];
      const when = sessions.some((s) => s.handshake) ? "after the handshake" : "mid-handshake";
      return `The proxy reads ${data["appBytes"]} bytes: the app left ${when}. No token.`;
    }
    if (isString(data["startLine"]) && isString(data["body"])) {
      return `The proxy logs the response too: ${data["startLine"]} ${this.#body(data["body"])}`;
    }
    return undefined;
  }

  /** A response body in full the first time, then "(the same body)". */
  #body(body: string): string {
    if (this.#bodies.has(body)) return "(the same body)";
    this.#bodies.add(body);
    return body;
  }
}
