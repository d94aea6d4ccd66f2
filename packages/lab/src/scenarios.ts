import { type ChainEntry, type Pin, type PolicyFile, parsePolicy } from "@keypin/core";
import { type LabAppResult, requestProfile } from "./app.js";
import type { LabCast } from "./cast.js";
import type { LabActor, LabObservation, LabStepId } from "./events.js";
import type { ProxyLogEntry } from "./proxy.js";

/**
 * What the runner hands a scenario: the cast, and a way to emit its steps.
 *
 * @example
 * await labScenarios[0]!.run({ cast, scenario: 1, step: (actor, step, text) => console.log(actor, step, text) });
 */
export interface ScenarioContext {
  cast: LabCast;
  scenario: number;
  step(actor: LabActor, step: LabStepId, text: string, route: string[], data?: Record<string, unknown>): void;
}

/**
 * One of the lab's seven scenarios.
 *
 * @example
 * const third: LabScenario = labScenarios.find((s) => s.id === 3)!;
 * third.expected; // "blocked"
 */
export interface LabScenario {
  id: number;
  title: string;
  /** What the scenario proves, in one sentence (the README and the narration use it). */
  proves: string;
  expected: string;
  /** Runs the scenario and returns what it observed (classified from the counters). */
  run(context: ScenarioContext): Promise<string>;
}

/** One app's attempt, as the counters saw it. */
interface Attempt {
  result: LabAppResult;
  observation: LabObservation;
}

function shortPin(pin: Pin): string {
  return `${pin.slice(0, 19)}…`;
}

function describeChain(chain: ChainEntry[]): string {
  return chain.map((entry) => entry.subject.split(",")[0]).join(" ← ");
}

function describePins(chain: ChainEntry[]): string {
  const pins = chain.map((entry) => `${entry.subject.split(",")[0]} ${shortPin(entry.pin)}`).join(", ");
  const sameKey = chain.length > 1 && chain[0]?.pin === chain[1]?.pin;
  return (
    `The app takes the SPKI pin of each key on that verified path: ${pins}.` +
    (sameKey ? " The forged leaf reuses its CA's key, as mitmproxy does, hence the same pin twice." : "")
  );
}

function pinnedPolicy(cast: LabCast, options?: { expires?: string }): PolicyFile {
  return {
    domains: {
      [cast.host]: {
        pins: [
          {
            pin: cast.pins.intermediate,
            role: "intermediate",
            label: "Lab Public CA R1 (our CA's intermediate)",
          },
          { pin: cast.pins.backup, role: "backup", label: "spare key, kept offline" },
        ],
        ...(options?.expires ? { expires: options.expires } : {}),
      },
    },
  };
}

/** The pins of a policy, for the narration. */
function pinsOf(policy: PolicyFile | undefined): Pin[] {
  if (!policy) return [];
  return Object.values(policy.domains).flatMap((entry) =>
    entry.pins.map((pin) => (typeof pin === "string" ? pin : pin.pin) as Pin),
  );
}

function isoDay(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Runs one app request and narrates it step by step. Every value shown comes from what the app got back,
 * the proxy's own log and counter, and the backend's own counter.
 */
async function attempt(
  ctx: ScenarioContext,
  options: { who: string; policy: PolicyFile | undefined; viaProxy: boolean },
): Promise<Attempt> {
  const { cast } = ctx;
  const { proxy, backend } = cast;
  const logStart = proxy.log.length;
  const bytesStart = proxy.appBytes;
  const hitsStart = backend.hits;
  const requestsStart = backend.requests.length;
  const url = `${cast.origin}/user/profile`;
  const warnings: string[] = [];
  const pins = pinsOf(options.policy);
  const proxyUrl = `http://127.0.0.1:${proxy.port}`;

  ctx.step(
    "app",
    "request",
    `${options.who} sends GET ${url} with "Authorization: Bearer ${cast.token}"` +
      (options.viaProxy ? `; the network routes it through the proxy at ${proxyUrl}.` : "."),
    options.viaProxy ? ["app", "proxy", cast.host] : ["app", cast.host],
    {
      method: "GET",
      url,
      token: cast.token,
      proxy: options.viaProxy ? proxyUrl : null,
      pins,
      anchors: cast.device.subjects(),
    },
  );

  const result = await requestProfile(cast.origin, cast.token, {
    policy: options.policy,
    anchors: cast.device.pems(),
    lookup: cast.lookup,
    proxy: options.viaProxy ? proxyUrl : undefined,
    onWarning: (message) => warnings.push(message),
  });
  // The app has closed its connections; let the proxy finish logging its side of them.
  await proxy.idle({ timeoutMs: 5000 });

  const log = proxy.log.slice(logStart);
  const appBytes = proxy.appBytes - bytesStart;
  const hits = backend.hits - hitsStart;
  const served = backend.requests.slice(requestsStart);
  const tokenLeaked = JSON.stringify(log).includes(cast.token);
  const entries = <K extends ProxyLogEntry["kind"]>(kind: K) =>
    log.filter((entry): entry is Extract<ProxyLogEntry, { kind: K }> => entry.kind === kind);
  const upstream = options.viaProxy ? "proxy" : cast.host;

  for (const forge of entries("forge")) {
    const connect = entries("connect").find((entry) => entry.session === forge.session);
    ctx.step(
      "proxy",
      "intercept",
      `The proxy accepts CONNECT ${connect?.host}:${connect?.port} and, instead of the real certificate, ` +
        `presents one it forged on the spot: ${forge.subject}, issued by ${forge.issuer}` +
        (forge.appended.length > 0
          ? `, followed by the genuine ${forge.appended.join(", ")} that it copied from the real server.`
          : "."),
      ["app", "proxy"],
      { connect: connect ? `${connect.host}:${connect.port}` : null, ...forge },
    );
  }

  // What the app was shown, which anchor vouched, the pins, the comparison and the decision.
  switch (result.kind) {
    case "response": {
      const view = result.connection;
      if (view) {
        const leaf = view.chain[0];
        const anchor = view.chain[view.chain.length - 1];
        ctx.step(
          "app",
          "certificate",
          `The app is shown ${leaf?.subject}, issued by ${view.leafIssuer}.`,
          [upstream, "app"],
          { subject: leaf?.subject, issuer: view.leafIssuer },
        );
        ctx.step(
          "device",
          "trust",
          `The device's trust store vouches for it: the path ${describeChain(view.chain)} ends at ${anchor?.subject}` +
            (anchor && anchor.pin === cast.pins.attacker
              ? ", the CA the user was talked into installing."
              : "."),
          [],
          {
            anchor: anchor?.subject,
            path: view.chain.map((entry) => entry.subject),
            store: cast.device.subjects(),
          },
        );
        ctx.step("app", "extract-pin", describePins(view.chain), [], { chainPins: view.chain });
        const verdict = view.verdict;
        switch (verdict.verdict) {
          case "pinned":
            ctx.step(
              "app",
              "compare",
              `It compares them with its pin set (${pins.map(shortPin).join(", ")}): ` +
                `${verdict.matched.subject} at position ${verdict.matched.position} matches ${shortPin(verdict.matched.pin)}.`,
              [],
              { expectedPins: pins, matched: verdict.matched },
            );
            break;
          case "not-pinned":
            ctx.step(
              "app",
              "compare",
              verdict.reason === "expired"
                ? `Its pin set for ${cast.host} expired on ${pinExpiry(options.policy)}: an expired pin set is not ` +
                    "enforced (that is what expiry means, on Android and TrustKit too), so nothing is compared."
                : `The app has no pin set for ${cast.host}: nothing to compare, the device's word is final.`,
              [],
              { expectedPins: pins, reason: verdict.reason, warnings },
            );
            break;
          case "mismatch":
            // A report-only policy would land here; the lab's policies all enforce.
            ctx.step(
              "app",
              "compare",
              "None of its pins is on the verified path (report-only: not enforced).",
              [],
              {
                expectedPins: verdict.expectedPins,
              },
            );
            break;
          default: {
            const unreachable: never = verdict;
            throw new Error(`unknown verdict ${JSON.stringify(unreachable)}`);
          }
        }
      }
      ctx.step("app", "decision", "The app completes the handshake and sends its request, token included.", [
        "app",
        upstream,
      ]);
      break;
    }
    case "pin-mismatch": {
      const { error } = result;
      const leaf = error.chainPins[0];
      const anchor = error.chainPins[error.chainPins.length - 1];
      ctx.step(
        "app",
        "certificate",
        `The app is shown ${leaf?.subject}, issued by ${error.chainPins[1]?.subject ?? leaf?.subject}.`,
        [upstream, "app"],
        { subject: leaf?.subject, issuer: error.chainPins[1]?.subject ?? leaf?.subject },
      );
      ctx.step(
        "device",
        "trust",
        `The device's trust store vouches for it: the path ${describeChain(error.chainPins)} ends at ${anchor?.subject}` +
          (anchor && anchor.pin === cast.pins.attacker
            ? ", the CA the user was talked into installing. Ordinary validation passes."
            : ". Ordinary validation passes."),
        [],
        {
          anchor: anchor?.subject,
          path: error.chainPins.map((entry) => entry.subject),
          store: cast.device.subjects(),
        },
      );
      ctx.step("app", "extract-pin", describePins(error.chainPins), [], { chainPins: error.chainPins });
      ctx.step(
        "app",
        "compare",
        `It compares them with its pin set (${error.expectedPins.map(shortPin).join(", ")}): none matches.`,
        [],
        { expectedPins: error.expectedPins, matched: null },
      );
      ctx.step(
        "app",
        "decision",
        `The app cancels the connection before sending a single byte of the request (${error.code}).`,
        ["app", "✕"],
        { code: error.code, host: error.host, port: error.port },
      );
      break;
    }
    case "error":
      ctx.step("app", "decision", `The request failed: ${result.message} (${result.code}).`, ["app", "✕"], {
        code: result.code,
      });
      break;
    default: {
      const unreachable: never = result;
      throw new Error(`unknown result ${JSON.stringify(unreachable)}`);
    }
  }

  if (options.viaProxy) {
    const requests = entries("request");
    const closed = entries("closed");
    if (requests.length > 0) {
      for (const request of requests) {
        ctx.step(
          "proxy",
          "decrypt",
          `The proxy decrypts ${appBytes} bytes from the app and logs: ${request.startLine}, ` +
            `authorization: ${request.headers["authorization"] ?? "(none)"}.`,
          ["app", "proxy"],
          { appBytes, startLine: request.startLine, headers: request.headers },
        );
      }
    } else {
      ctx.step(
        "proxy",
        "decrypt",
        `The proxy read ${appBytes} bytes of application data from the app: ` +
          (closed.some((entry) => entry.handshake)
            ? "the app hung up right after the handshake. Its log holds no request and no token."
            : "the app hung up before completing the handshake. Its log holds no request and no token."),
        ["app", "proxy"],
        {
          appBytes,
          sessions: closed.map((entry) => ({ handshake: entry.handshake, appBytes: entry.appBytes })),
        },
      );
    }
    for (const relay of entries("relay")) {
      ctx.step(
        "proxy",
        "relay",
        `The proxy relays the request to the real ${relay.host}:${relay.port}, so the app notices nothing.`,
        ["proxy", cast.host],
        { host: relay.host, port: relay.port },
      );
    }
  }

  ctx.step(
    "backend",
    "serve",
    hits > 0
      ? `${cast.host} served ${hits} request${hits === 1 ? "" : "s"}: ${served
          .map((r) => `${r.method} ${r.path} → ${r.status}${r.authorized ? " (valid token)" : ""}`)
          .join(", ")}.`
      : `${cast.host} served nothing (its request counter did not move).`,
    hits > 0 ? (options.viaProxy ? ["proxy", cast.host] : ["app", cast.host]) : [],
    { backendHits: hits, requests: served },
  );

  if (options.viaProxy) {
    for (const response of entries("response")) {
      ctx.step(
        "proxy",
        "decrypt",
        `On the way back the proxy logs the response too: ${response.startLine} ${response.body}`,
        [cast.host, "proxy", "app"],
        { startLine: response.startLine, body: response.body },
      );
    }
  }

  if (result.kind === "response") {
    const back = options.viaProxy ? [cast.host, "proxy", "app"] : [cast.host, "app"];
    ctx.step("app", "response", `${options.who} gets ${result.status} ${result.body}`, back, {
      status: result.status,
      body: result.body,
    });
  }

  let observation: LabObservation;
  if (result.kind === "response" && result.status === 200)
    observation = tokenLeaked ? "token-stolen" : "works";
  else if (result.kind === "pin-mismatch" && appBytes === 0 && hits === 0) observation = "blocked";
  else if (result.kind === "error") observation = `failed: ${result.code}`;
  else if (result.kind === "response") observation = `failed: HTTP ${result.status}`;
  else observation = `failed: ${result.error.code} after ${appBytes} bytes to the proxy, ${hits} hits`;
  return { result, observation };
}

function pinExpiry(policy: PolicyFile | undefined): string {
  return Object.values(policy?.domains ?? {})[0]?.expires ?? "(no date)";
}

function installAttackerCa(ctx: ScenarioContext): void {
  const { cast } = ctx;
  cast.device.install(cast.attackerCa);
  ctx.step(
    "device",
    "setup",
    `The user installs the attacker's CA (${cast.attackerCa.subject}) on the device, as a profile or a ` +
      "debugging proxy's certificate. The device now trusts: " +
      `${cast.device.subjects().join("; ")}.`,
    [],
    { installed: cast.attackerCa.subject, pin: cast.pins.attacker, store: cast.device.subjects() },
  );
}

function cleanDevice(ctx: ScenarioContext): void {
  ctx.cast.device.remove(ctx.cast.attackerCa);
}

/**
 * The seven scenarios of the lab, in order.
 *
 * @example
 * for (const scenario of labScenarios) console.log(scenario.id, scenario.title, scenario.expected);
 */
export const labScenarios: readonly LabScenario[] = [
  {
    id: 1,
    title: "Ordinary HTTPS, no attacker",
    proves: "The cast works: a trusted CA vouches for the backend and the request goes through.",
    expected: "works",
    async run(ctx) {
      cleanDevice(ctx);
      ctx.step("lab", "setup", "No proxy on the path, no pin set: plain HTTPS as every app does it.", [], {});
      return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: false })).observation;
    },
  },
  {
    id: 2,
    title: "Attacker's CA on the device, no pinning",
    proves:
      "Trusting the device's CAs is not enough: an installed CA lets a proxy read and relay everything.",
    expected: "token-stolen",
    async run(ctx) {
      cleanDevice(ctx);
      installAttackerCa(ctx);
      ctx.step(
        "lab",
        "setup",
        "The network sends the app through the attacker's proxy. The app does not pin.",
        [],
        {},
      );
      return (await attempt(ctx, { who: "The app", policy: undefined, viaProxy: true })).observation;
    },
  },
  {
    id: 3,
    title: "Same attack, the app pins its keys",
    proves: "A pin set stops the attack during the handshake: the proxy gets no request byte and no token.",
    expected: "blocked",
    async run(ctx) {
      cleanDevice(ctx);
      installAttackerCa(ctx);
      const policy = pinnedPolicy(ctx.cast);
      ctx.step(
        "lab",
        "setup",
        `Same proxy, same installed CA; this time the app ships a pin set for ${ctx.cast.host}: ` +
          `${pinsOf(policy).map(shortPin).join(", ")} (the CA intermediate's key and a spare key).`,
        [],
        { policy },
      );
      return (await attempt(ctx, { who: "The pinned app", policy, viaProxy: true })).observation;
    },
  },
  {
    id: 4,
    title: "Pinning, no attacker",
    proves: "Pinning does not get in the way of the real server.",
    expected: "works",
    async run(ctx) {
      cleanDevice(ctx);
      const policy = pinnedPolicy(ctx.cast);
      ctx.step("lab", "setup", "No proxy, the attacker's CA removed; the app keeps its pin set.", [], {
        policy,
      });
      return (await attempt(ctx, { who: "The pinned app", policy, viaProxy: false })).observation;
    },
  },
  {
    id: 5,
    title: "Attacker appends the genuine pinned intermediate",
    proves:
      "Only the signature-verified path counts: a pinned certificate merely sent along (CVE-2016-2402) is ignored.",
    expected: "blocked",
    async run(ctx) {
      const { cast } = ctx;
      cleanDevice(ctx);
      installAttackerCa(ctx);
      cast.proxy.appendToChain = [cast.intermediate];
      try {
        const policy = pinnedPolicy(cast);
        ctx.step(
          "lab",
          "setup",
          `A smarter attacker: the proxy appends the genuine ${cast.intermediate.subject} (public, any client ` +
            "sees it) after its forged leaf, so the pinned key is in what the app receives.",
          [],
          { appended: cast.intermediate.subject, pin: cast.pins.intermediate, policy },
        );
        const result = await attempt(ctx, { who: "The pinned app", policy, viaProxy: true });
        ctx.step(
          "lab",
          "decision",
          `Still blocked. The pinned intermediate was sent, but it did not sign the forged leaf: the only path ` +
            `whose signatures verify runs from the forged leaf to ${cast.attackerCa.subject}. keypin compares pins ` +
            "with that verified path only, never with whatever else the server sends (the bug of OkHttp before 3.1.2).",
          [],
          {},
        );
        return result.observation;
      } finally {
        cast.proxy.appendToChain = [];
      }
    },
  },
  {
    id: 6,
    title: "The backend rotates its key",
    proves: "A backup pin keeps the app working through a key rotation; without one the app is locked out.",
    expected: "backup: works, no-backup: blocked",
    async run(ctx) {
      const { cast } = ctx;
      cleanDevice(ctx);
      cast.backend.rotate(cast.rotatedLeaf);
      try {
        ctx.step(
          "backend",
          "setup",
          `${cast.host} rotates its key: it now serves a certificate for the spare key ${shortPin(cast.pins.backup)} ` +
            `(same CA). The old leaf key ${shortPin(cast.pins.leaf)} is gone.`,
          [],
          { oldPin: cast.pins.leaf, newPin: cast.pins.backup },
        );
        const withBackup: PolicyFile = {
          domains: {
            [cast.host]: {
              pins: [
                { pin: cast.pins.leaf, role: "leaf", label: "current key" },
                { pin: cast.pins.backup, role: "backup", label: "spare key, kept offline" },
              ],
            },
          },
        };
        const withoutBackup: PolicyFile = {
          domains: { [cast.host]: { pins: [{ pin: cast.pins.leaf, role: "leaf", label: "current key" }] } },
        };
        // What keypin's own lint said about each pin set before it shipped.
        const lint = (policy: PolicyFile) =>
          parsePolicy(policy).warnings.map((warning) => ({ code: warning.code, message: warning.message }));
        const warnings = lint(withoutBackup);
        ctx.step(
          "lab",
          "setup",
          "Two versions of the app: one pinned the leaf key and a backup key, the other only the leaf key" +
            (warnings.length > 0
              ? `, although keypin's lint had warned about it (${warnings.map((w) => w.code).join(", ")}).`
              : "."),
          [],
          { withBackup, withoutBackup, lint: { withBackup: lint(withBackup), withoutBackup: warnings } },
        );
        const a = await attempt(ctx, {
          who: "The app with a backup pin",
          policy: withBackup,
          viaProxy: false,
        });
        const b = await attempt(ctx, {
          who: "The app without a backup pin",
          policy: withoutBackup,
          viaProxy: false,
        });
        ctx.step(
          "lab",
          "decision",
          b.observation === "blocked"
            ? "The app without a backup pin is locked out of the real server until its users install an update: " +
                "that is why keypin lints a pin set without a backup key."
            : "Unexpected: the app without a backup pin was not locked out.",
          [],
          {},
        );
        return `backup: ${a.observation}, no-backup: ${b.observation}`;
      } finally {
        cast.backend.rotate(cast.leaf);
      }
    },
  },
  {
    id: 7,
    title: "The pin set has expired",
    proves: "Expiry fails open: after the date, pinning is off and the attack of scenario 2 works again.",
    expected: "token-stolen",
    async run(ctx) {
      const { cast } = ctx;
      cleanDevice(ctx);
      installAttackerCa(ctx);
      const policy = pinnedPolicy(cast, { expires: isoDay(-30) });
      ctx.step(
        "lab",
        "setup",
        `The app still ships the pin set of scenario 3, but with "expires": "${pinExpiry(policy)}", a month ago. ` +
          "The network sends it through the proxy again.",
        [],
        { policy },
      );
      return (await attempt(ctx, { who: "The app with an expired pin set", policy, viaProxy: true }))
        .observation;
    },
  },
];
