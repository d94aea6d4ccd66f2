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

interface LabEventBase {
  /** Version of this event format. */
  v: 1;
  /** The scenario (1–7) the event belongs to; `null` for events about the whole run. */
  scenario: number | null;
  /** When the event was emitted (ISO 8601, UTC). */
  ts: string;
}

/**
 * One narrated step, with the values observed.
 *
 * @example
 * // {"v":1,"type":"step","scenario":3,"ts":"…","actor":"app","step":"decision","route":["app","✕"],
 * //  "text":"The app cancels the connection before sending a single byte of the request (…)","data":{"code":"ERR_KEYPIN_PIN_MISMATCH",…}}
 */
export interface LabStepEvent extends LabEventBase {
  type: "step";
  actor: LabActor;
  step: LabStepId;
  /** The narration, one or two sentences. */
  text: string;
  /** The hops the bytes travel in this step, e.g. `["app", "proxy", "api.myapp.com"]` (may be empty). */
  route: string[];
  /** The values behind the narration: subjects, pins, anchors, byte counts… */
  data: Record<string, unknown>;
}

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
  /** For scenario 6, which runs two apps: `backup: works, no-backup: blocked`. */
  expected: string;
  observed: string;
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
  scenarios: {
    scenario: number;
    title: string;
    expected: string;
    observed: string;
    ok: boolean;
    tokenLeaked: boolean;
  }[];
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
