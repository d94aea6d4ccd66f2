import type { ChainEntry, Pin } from "@keypin/core";
import type { LabStep } from "../events.js";
import type { ProxyLogEntry } from "../proxy.js";
import type { Attempt } from "./attempt.js";

/** The first characters of a pin, for the narration. */
export function shortPin(pin: Pin): string {
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

/** The expiry date of a policy's (first) pin set, for the narration. */
export function pinExpiry(attempt: Pick<Attempt, "policy">): string {
  return Object.values(attempt.policy?.domains ?? {})[0]?.expires ?? "(no date)";
}

/** What the app was shown, which anchor vouched, the pins, the comparison and the decision. */
function narrateVerification(attempt: Attempt, upstream: string): LabStep[] {
  const { result, host, pins, anchors } = attempt;
  const steps: LabStep[] = [];
  const installed = (anchor: ChainEntry | undefined): boolean => anchor?.pin === attempt.attackerPin;
  switch (result.kind) {
    case "response": {
      const view = result.connection;
      if (view) {
        const leaf = view.chain[0];
        const anchor = view.chain[view.chain.length - 1];
        steps.push(
          {
            actor: "app",
            step: "certificate",
            text: `The app is shown ${leaf?.subject}, issued by ${view.leafIssuer}.`,
            route: [upstream, "app"],
            data: {
              subject: leaf?.subject,
              issuer: view.leafIssuer,
              presented: attempt.presented,
              real: attempt.real,
            },
          },
          {
            actor: "device",
            step: "trust",
            text:
              `The device's trust store vouches for it: the path ${describeChain(view.chain)} ends at ${anchor?.subject}` +
              (installed(anchor) ? ", the CA the user was talked into installing." : "."),
            route: [],
            data: { anchor: anchor?.subject, path: view.chain.map((entry) => entry.subject), store: anchors },
          },
          {
            actor: "app",
            step: "extract-pin",
            text: describePins(view.chain),
            route: [],
            data: { chainPins: view.chain, certificates: attempt.verifiedPath },
          },
        );
        const verdict = view.verdict;
        switch (verdict.verdict) {
          case "pinned":
            steps.push({
              actor: "app",
              step: "compare",
              text:
                `It compares them with its pin set (${pins.map(shortPin).join(", ")}): ` +
                `${verdict.matched.subject} at position ${verdict.matched.position} matches ${shortPin(verdict.matched.pin)}.`,
              route: [],
              data: { expectedPins: pins, matched: verdict.matched },
            });
            break;
          case "not-pinned":
            steps.push({
              actor: "app",
              step: "compare",
              text:
                verdict.reason === "expired"
                  ? `Its pin set for ${host} expired on ${pinExpiry(attempt)}: an expired pin set is not ` +
                    "enforced (that is what expiry means, on Android and TrustKit too), so nothing is compared."
                  : `The app has no pin set for ${host}: nothing to compare, the device's word is final.`,
              route: [],
              data: { expectedPins: pins, reason: verdict.reason, warnings: attempt.warnings },
            });
            break;
          case "mismatch":
            // A report-only policy would land here; the lab's policies all enforce.
            steps.push({
              actor: "app",
              step: "compare",
              text: "None of its pins is on the verified path (report-only: not enforced).",
              route: [],
              data: { expectedPins: verdict.expectedPins },
            });
            break;
          default: {
            const unreachable: never = verdict;
            throw new Error(`unknown verdict ${JSON.stringify(unreachable)}`);
          }
        }
      }
      steps.push({
        actor: "app",
        step: "decision",
        text: "The app completes the handshake and sends its request, token included.",
        route: ["app", upstream],
        data: {},
      });
      return steps;
    }
    case "pin-mismatch": {
      const { error } = result;
      const leaf = error.chainPins[0];
      const anchor = error.chainPins[error.chainPins.length - 1];
      const issuer = error.chainPins[1]?.subject ?? leaf?.subject;
      return [
        {
          actor: "app",
          step: "certificate",
          text: `The app is shown ${leaf?.subject}, issued by ${issuer}.`,
          route: [upstream, "app"],
          data: { subject: leaf?.subject, issuer, presented: attempt.presented, real: attempt.real },
        },
        {
          actor: "device",
          step: "trust",
          text:
            `The device's trust store vouches for it: the path ${describeChain(error.chainPins)} ends at ${anchor?.subject}` +
            (installed(anchor)
              ? ", the CA the user was talked into installing. Ordinary validation passes."
              : ". Ordinary validation passes."),
          route: [],
          data: {
            anchor: anchor?.subject,
            path: error.chainPins.map((entry) => entry.subject),
            store: anchors,
          },
        },
        {
          actor: "app",
          step: "extract-pin",
          text: describePins(error.chainPins),
          route: [],
          data: { chainPins: error.chainPins, certificates: attempt.verifiedPath },
        },
        {
          actor: "app",
          step: "compare",
          text: `It compares them with its pin set (${error.expectedPins.map(shortPin).join(", ")}): none matches.`,
          route: [],
          data: { expectedPins: error.expectedPins, matched: null },
        },
        {
          actor: "app",
          step: "decision",
          text: `The app cancels the connection before sending a single byte of the request (${error.code}).`,
          route: ["app", "✕"],
          data: { code: error.code, host: error.host, port: error.port },
        },
      ];
    }
    case "error": {
      // A handshake that completed and was refused (an untrusted chain): the app was still shown a certificate.
      const shown = attempt.presented[0];
      if (shown) {
        steps.push({
          actor: "app",
          step: "certificate",
          text: `The app is shown ${shown.subject}, issued by ${shown.issuer}.`,
          route: [upstream, "app"],
          data: {
            subject: shown.subject,
            issuer: shown.issuer,
            presented: attempt.presented,
            real: attempt.real,
          },
        });
      }
      steps.push({
        actor: "app",
        step: "decision",
        text: `The request failed: ${result.message} (${result.code}).`,
        route: ["app", "✕"],
        data: { code: result.code },
      });
      return steps;
    }
    default: {
      const unreachable: never = result;
      throw new Error(`unknown result ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Tells one attempt step by step, from its data alone (pure): the request, the proxy's forgery, what the app
 * was shown and decided, what the proxy decrypted and relayed, what the backend served, the response.
 *
 * @example
 * for (const step of narrateAttempt(await attemptRequest(cast, request))) ctx.step(step);
 */
export function narrateAttempt(attempt: Attempt): LabStep[] {
  const { host, viaProxy, log, appBytes, backendHits, result } = attempt;
  const entries = <K extends ProxyLogEntry["kind"]>(kind: K) =>
    log.filter((entry): entry is Extract<ProxyLogEntry, { kind: K }> => entry.kind === kind);
  const upstream = viaProxy ? "proxy" : host;
  const steps: LabStep[] = [
    {
      actor: "app",
      step: "request",
      text:
        `${attempt.who} sends GET ${attempt.url} with "Authorization: Bearer ${attempt.token}"` +
        (attempt.proxyUrl ? `; the network routes it through the proxy at ${attempt.proxyUrl}.` : "."),
      route: viaProxy ? ["app", "proxy", host] : ["app", host],
      data: {
        method: "GET",
        url: attempt.url,
        token: attempt.token,
        proxy: attempt.proxyUrl,
        pins: attempt.pins,
        anchors: attempt.anchors,
        policy: attempt.policy ?? null,
      },
    },
  ];

  for (const forge of entries("forge")) {
    const connect = entries("connect").find((entry) => entry.session === forge.session);
    steps.push({
      actor: "proxy",
      step: "intercept",
      text:
        `The proxy accepts CONNECT ${connect?.host}:${connect?.port} and, instead of the real certificate, ` +
        `presents one it forged on the spot: ${forge.subject}, issued by ${forge.issuer}` +
        (forge.appended.length > 0
          ? `, followed by the genuine ${forge.appended.join(", ")} that it copied from the real server.`
          : "."),
      route: ["app", "proxy"],
      data: { connect: connect ? `${connect.host}:${connect.port}` : null, ...forge },
    });
  }

  steps.push(...narrateVerification(attempt, upstream));

  if (viaProxy) {
    const requests = entries("request");
    const closed = entries("closed");
    for (const request of requests) {
      steps.push({
        actor: "proxy",
        step: "decrypt",
        text:
          `The proxy decrypts ${appBytes} bytes from the app and logs: ${request.startLine}, ` +
          `authorization: ${request.headers["authorization"] ?? "(none)"}.`,
        route: ["app", "proxy"],
        data: { appBytes, startLine: request.startLine, headers: request.headers },
      });
    }
    if (requests.length === 0) {
      steps.push({
        actor: "proxy",
        step: "decrypt",
        text:
          `The proxy read ${appBytes} bytes of application data from the app: ` +
          (closed.some((entry) => entry.handshake)
            ? "the app hung up right after the handshake. Its log holds no request and no token."
            : "the app hung up before completing the handshake. Its log holds no request and no token."),
        route: ["app", "proxy"],
        data: {
          appBytes,
          sessions: closed.map((entry) => ({ handshake: entry.handshake, appBytes: entry.appBytes })),
        },
      });
    }
    for (const relay of entries("relay")) {
      steps.push({
        actor: "proxy",
        step: "relay",
        text: `The proxy relays the request to the real ${relay.host}:${relay.port}, so the app notices nothing.`,
        route: ["proxy", host],
        data: { host: relay.host, port: relay.port },
      });
    }
  }

  steps.push({
    actor: "backend",
    step: "serve",
    text:
      backendHits > 0
        ? `${host} served ${backendHits} request${backendHits === 1 ? "" : "s"}: ${attempt.served
            .map((r) => `${r.method} ${r.path} → ${r.status}${r.authorized ? " (valid token)" : ""}`)
            .join(", ")}.`
        : `${host} served nothing (its request counter did not move).`,
    route: backendHits > 0 ? (viaProxy ? ["proxy", host] : ["app", host]) : [],
    data: { backendHits, requests: attempt.served },
  });

  if (viaProxy) {
    for (const response of entries("response")) {
      steps.push({
        actor: "proxy",
        step: "decrypt",
        text: `On the way back the proxy logs the response too: ${response.startLine} ${response.body}`,
        route: [host, "proxy", "app"],
        data: { startLine: response.startLine, body: response.body },
      });
    }
  }

  if (result.kind === "response") {
    steps.push({
      actor: "app",
      step: "response",
      text: `${attempt.who} gets ${result.status} ${result.body}`,
      route: viaProxy ? [host, "proxy", "app"] : [host, "app"],
      data: { status: result.status, body: result.body },
    });
  }
  return steps;
}
