import type { ChainEntry, Pin, PinVerdict, PolicyFile } from "@keypin/core";
import type { BackendRequest } from "./backend.js";
import type { LabPins } from "./cast.js";
import type { LabCertificateView, LabPathCertificate } from "./certificate-views.js";
import type { ProxyLogEntry } from "./proxy.js";
import type { LabWhatIf } from "./what-if/what-if.js";

/**
 * Who acts in a step of the lab's story.
 *
 * @example
 * const proxySteps = events.filter((e) => e.type === "step" && e.actor === ("proxy" satisfies LabActor));
 */
export type LabActor = "app" | "device" | "proxy" | "backend" | "lab";

/**
 * Stable ids of the steps (a web page or a test can switch on them; e.g.
 * `events.find((e) => e.type === "step" && e.step === "decision")`):
 * - `setup`: the lab prepares the scene (starts the cast, installs a CA, rotates a key);
 * - `request`: the app starts a request;
 * - `intercept`: the proxy catches the app's CONNECT and forges a certificate;
 * - `certificate`: the certificate the app was shown (subject, issuer);
 * - `trust`: which trust anchor of the device vouched for it (the verified path);
 * - `extract-pin`: the SPKI pins taken out of the verified path;
 * - `compare`: the pins of the verified path compared with the app's pin set;
 * - `decision`: continue or cancel;
 * - `decrypt`: what the proxy decrypted and logged from the app's TLS session;
 * - `relay`: the proxy forwards the request to the real backend;
 * - `serve`: the backend served (or never saw) the request;
 * - `response`: what the app got back;
 * - `keep`: the cast stays up for your own tools (`--keep`).
 */
export type LabStepId =
  | "setup"
  | "request"
  | "intercept"
  | "certificate"
  | "trust"
  | "extract-pin"
  | "compare"
  | "decision"
  | "decrypt"
  | "relay"
  | "serve"
  | "response"
  | "keep";

/**
 * A step's `data`: the values named below, and any other key (typed `unknown`) a reader may look up.
 *
 * @example
 * const data: StepData<{ code: string }> = { code: "ERR_KEYPIN_PIN_MISMATCH" };
 */
export type StepData<T> = T & { readonly [key: string]: unknown };

type ProxyEntry<K extends ProxyLogEntry["kind"]> = Extract<ProxyLogEntry, { kind: K }>;

/**
 * The `data` of each step id, one union per id (the live `--keep` steps carry the proxy's log entry or the
 * backend's request as they are):
 * - `setup`: the run's cast, a scenario's header, a CA installed on the device, or a scenario's own values;
 * - `compare`: a match, no pin set in force (with the reason), or a report-only mismatch;
 * - `decision`: nothing, a pin mismatch (code, host, port) or another failure (code).
 *
 * @example
 * if (event.type === "step" && event.step === "decision") console.log(event.data["code"]);
 */
export interface LabStepData {
  setup:
    | StepData<{
        host: string;
        backend: string;
        proxy: string;
        chain: string[];
        attackerCa: string;
        pins: LabPins;
        token: string;
      }>
    /** A scenario's header; `whatIf`: the parameterised attempt it is (`null`: a preset that is not one). */
    | StepData<{ title: string; proves: string; expected: LabResult; whatIf: LabWhatIf | null }>
    | StepData<{ installed: string; pin: Pin; store: string[] }>
    /** A scenario's own set-up values (its pin set, the certificate appended, the pins rotated…). */
    | StepData<{ policy?: PolicyFile }>;
  request: StepData<{
    method: "GET";
    url: string;
    token: string;
    /** The proxy the network routes the app through, `null` for none. */
    proxy: string | null;
    pins: Pin[];
    /** The subjects of the device's trust anchors. */
    anchors: string[];
    /** The pin set in force for this attempt (`null`: the app does not pin). */
    policy: PolicyFile | null;
  }>;
  intercept:
    | StepData<{ connect: string | null } & ProxyEntry<"forge">>
    | StepData<ProxyEntry<"connect" | "forge" | "handshake" | "handshake-failed">>;
  certificate: StepData<{
    subject?: string;
    issuer?: string;
    /** What the server (or the proxy posing as it) sent in the handshake, leaf first. */
    presented: LabCertificateView[];
    /** The real backend's chain as it serves it now, leaf first. */
    real: LabCertificateView[];
  }>;
  trust: StepData<{ anchor?: string; path: string[]; store: string[] }>;
  /** `certificates`: each certificate of the verified path, same order as `chainPins`. */
  "extract-pin": StepData<{ chainPins: ChainEntry[]; certificates: LabPathCertificate[] }>;
  compare:
    | StepData<{ expectedPins: Pin[]; matched: ChainEntry & { position: number } }>
    | StepData<{ expectedPins: Pin[]; matched: null }>
    | StepData<{
        expectedPins: Pin[];
        reason: Extract<PinVerdict, { verdict: "not-pinned" }>["reason"];
        warnings: string[];
      }>
    | StepData<{ expectedPins: Pin[] }>;
  decision:
    | StepData<Record<never, never>>
    | StepData<{ code: string; host: string; port: number }>
    | StepData<{ code: string }>;
  decrypt:
    | StepData<{ appBytes: number; startLine: string; headers: Record<string, string> }>
    | StepData<{ appBytes: number; sessions: { handshake: boolean; appBytes: number }[] }>
    | StepData<{ startLine: string; body: string }>
    | StepData<ProxyEntry<"request" | "response" | "closed">>;
  relay: StepData<{ host: string; port: number }> | StepData<ProxyEntry<"relay" | "upstream-error">>;
  serve: StepData<{ backendHits: number; requests: BackendRequest[] }> | StepData<BackendRequest>;
  response: StepData<{ status: number; body: string }>;
  keep: StepData<LabKeepInfo>;
}

/**
 * The `data` of the `keep` step: the files `keep` wrote, and how to use the cast.
 *
 * @example
 * if (event.type === "step" && event.step === "keep") execFile(event.data.curl.direct[0]!, event.data.curl.direct.slice(1));
 */
export type LabKeepInfo = {
  dir: string;
  files: { labRoot: string; attackerCa: string; deviceStore: string; policy: string };
  host: string;
  backend: { address: string; port: number; origin: string };
  proxy: string;
  token: string;
  pins: LabPins;
  curl: { direct: string[]; throughProxy: string[]; throughProxyPinned: string[] };
};

/**
 * What a scenario ended as, classified from the app's result and the proxy's and backend's own counters.
 *
 * @example
 * const stolen: LabObservation = "token-stolen";
 */
export type LabObservation =
  /** The app got its profile and the attacker saw nothing. */
  | "works"
  /** The app got its profile, and the token is in the attacker's log. */
  | "token-stolen"
  /** The app cancelled the connection on a pin mismatch; no application byte reached the proxy or the backend. */
  | "blocked"
  /** Anything else (a failure the lab did not expect), with its error code. */
  | `failed: ${string}`;

/**
 * A scenario's expected or observed result as text: one app's observation, or several apps' observations
 * labelled (`backup: works, no-backup: blocked`).
 *
 * @example
 * const expected: LabResult = "backup: works, no-backup: blocked";
 */
export type LabResult = LabObservation | `${string}: ${LabObservation}`;

interface LabEventBase {
  /** Version of this event format. */
  v: 1;
  /** The number of the scenario the event belongs to (its place in `labScenarios`); `null` for the whole run. */
  scenario: number | null;
  /** When the event was emitted (ISO 8601, UTC). */
  ts: string;
}

/**
 * One narrated step, with the values observed: one member per step id, its `data` typed by {@link LabStepData}.
 *
 * @example
 * // {"v":1,"type":"step","scenario":3,"ts":"…","actor":"app","step":"decision","route":["app","✕"],
 * //  "text":"The app cancels the connection before sending a single byte of the request (…)","data":{"code":"ERR_KEYPIN_PIN_MISMATCH",…}}
 */
export type LabStepEvent = { [S in LabStepId]: LabEventBase & { type: "step" } & LabStep<S> }[LabStepId];

/**
 * A step as a scenario writes it (the runner adds `v`, `type`, `scenario` and `ts`).
 *
 * @example
 * ctx.step({ actor: "lab", step: "setup", text: "No proxy on the path.", route: [], data: {} });
 */
export type LabStep<S extends LabStepId = LabStepId> = {
  [K in S]: {
    actor: LabActor;
    step: K;
    /** The narration, one or two sentences. */
    text: string;
    /** The hops the bytes travel in this step, e.g. `["app", "proxy", "api.myapp.com"]` (may be empty). */
    route: string[];
    /** The values behind the narration: subjects, pins, anchors, byte counts… */
    data: LabStepData[K];
  };
}[S];

/**
 * The end of one scenario: what was expected, what the counters say happened.
 *
 * @example
 * // {"v":1,"type":"outcome","scenario":3,"ts":"…","title":"Same attack, the app pins its keys","expected":"blocked",
 * //  "observed":"blocked","ok":true,"tokenLeaked":false,"attackerAppBytes":0,"backendHits":0}
 */
export interface LabOutcomeEvent extends LabEventBase {
  type: "outcome";
  scenario: number;
  title: string;
  /** For a scenario that runs two apps, both labelled: `backup: works, no-backup: blocked`. */
  expected: LabResult;
  observed: LabResult;
  ok: boolean;
  /** Whether the run's token appears anywhere in the attacker's log for this scenario. */
  tokenLeaked: boolean;
  /** Bytes of application data the proxy read from the app's TLS sessions in this scenario (its own counter). */
  attackerAppBytes: number;
  /** Requests the backend served in this scenario (its own counter). */
  backendHits: number;
}

/**
 * The last event of a run (with `keep`, only the live steps of the running cast, `scenario: null`, follow it).
 *
 * @example
 * if (event.type === "summary" && !event.ok) console.error(event.scenarios.filter((s) => !s.ok));
 */
export interface LabSummaryEvent extends LabEventBase {
  type: "summary";
  scenario: null;
  /** True when every scenario ended as expected. */
  ok: boolean;
  /** Each scenario's outcome, without its counters. */
  scenarios: Pick<LabOutcomeEvent, "scenario" | "title" | "expected" | "observed" | "ok" | "tokenLeaked">[];
  /** Wall-clock duration of the run, set-up included, in milliseconds. */
  durationMs: number;
}

/**
 * An event of a lab run; `--json` writes one per line.
 *
 * @example
 * runLab({ onEvent: (event) => { if (event.type === "outcome") console.log(event.scenario, event.ok) } });
 */
export type LabEvent = LabStepEvent | LabOutcomeEvent | LabSummaryEvent;

/**
 * The result `runLab` resolves with (the same content as its `summary` event).
 *
 * @example
 * const summary = await runLab();
 * process.exitCode = summary.ok ? 0 : 1;
 */
export type LabSummary = Omit<LabSummaryEvent, "v" | "type" | "scenario" | "ts"> & {
  outcomes: LabOutcomeEvent[];
};
