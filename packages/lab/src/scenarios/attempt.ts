import { type ChainEntry, decodePem, type Pin, type PolicyFile } from "@keypin/core";
import { type LabAppResult, requestProfile } from "../app.js";
import type { BackendRequest } from "../backend.js";
import type { LabCast } from "../cast.js";
import {
  type LabCertificateView,
  type LabPathCertificate,
  pathCertificates,
  viewCertificate,
} from "../certificate-views.js";
import type { LabObservation } from "../events.js";
import type { ProxyLogEntry } from "../proxy.js";

/**
 * What to attempt: who sends `GET /user/profile` with the run's token, with which pin set, through the
 * attacker's proxy or straight to the backend.
 *
 * @example
 * const request: AttemptRequest = { who: "The pinned app", policy, viaProxy: true };
 */
export interface AttemptRequest {
  /** How the narration names the app ("The pinned app"). */
  who: string;
  /** The app's pin set; `undefined`: the app does not pin. */
  policy: PolicyFile | undefined;
  /** Whether the network routes the app through the attacker's proxy. */
  viaProxy: boolean;
}

/**
 * One app's attempt as the counters saw it: plain data, everything the narration shows, nothing it guesses.
 * The scene (host, token, device store) is as it was when the request was sent.
 *
 * @example
 * const attempt = await attemptRequest(cast, { who: "The app", policy: undefined, viaProxy: true });
 * attempt.observation; // "token-stolen"
 */
export interface Attempt extends AttemptRequest {
  host: string;
  token: string;
  url: string;
  /** The proxy's URL when `viaProxy`, else `null`. */
  proxyUrl: string | null;
  /** The pins of the app's pin set. */
  pins: Pin[];
  /** The subjects of the device's trust anchors. */
  anchors: string[];
  /** The pin of the attacker's CA (to say which anchor is the installed one). */
  attackerPin: Pin;
  /** What the app got back. */
  result: LabAppResult;
  /** The certificates the app was shown (what the server or the proxy sent), leaf first. */
  presented: LabCertificateView[];
  /** The real backend's chain as it serves it now, leaf first. */
  real: LabCertificateView[];
  /** The certificates of the path the app verified, in the order of its chain pins (`[]` when there is none). */
  verifiedPath: LabPathCertificate[];
  /** Warnings @keypin/node gave about the pin set. */
  warnings: string[];
  /** The proxy's log entries for this attempt. */
  log: ProxyLogEntry[];
  /** Application bytes the proxy decrypted from the app during the attempt (its own counter). */
  appBytes: number;
  /** Requests the backend served during the attempt (its own counter), and what they were. */
  backendHits: number;
  served: BackendRequest[];
  /** Whether the token appears anywhere in the proxy's log for this attempt. */
  tokenLeaked: boolean;
  observation: LabObservation;
}

/** The pins of a policy. */
export function pinsOf(policy: PolicyFile | undefined): Pin[] {
  if (!policy) return [];
  return Object.values(policy.domains).flatMap((entry) =>
    entry.pins.map((pin) => (typeof pin === "string" ? pin : pin.pin) as Pin),
  );
}

/** The verified path's pins the app reported, leaf first (`[]` when no path was verified). */
function chainOf(result: LabAppResult): ChainEntry[] {
  switch (result.kind) {
    case "response":
      return result.connection?.chain ?? [];
    case "pin-mismatch":
      return result.error.chainPins;
    case "error":
      return [];
    default: {
      const unreachable: never = result;
      throw new Error(`unknown result ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Classifies an attempt from what the app got back and the counters. */
function classify(
  result: LabAppResult,
  tokenLeaked: boolean,
  appBytes: number,
  hits: number,
): LabObservation {
  if (result.kind === "response" && result.status === 200) return tokenLeaked ? "token-stolen" : "works";
  if (result.kind === "pin-mismatch" && appBytes === 0 && hits === 0) return "blocked";
  if (result.kind === "error") return `failed: ${result.code}`;
  if (result.kind === "response") return `failed: HTTP ${result.status}`;
  return `failed: ${result.error.code} after ${appBytes} bytes to the proxy, ${hits} hits`;
}

/**
 * Runs one app request on the cast and reads the counters: what the app got back, the proxy's own log and
 * byte counter, and the backend's own request counter.
 *
 * @example
 * const attempt = await attemptRequest(cast, { who: "The pinned app", policy, viaProxy: true });
 * attempt.appBytes; // 0
 */
export async function attemptRequest(
  cast: LabCast,
  request: AttemptRequest,
  options: { onKeylog?: ((line: string) => void) | undefined } = {},
): Promise<Attempt> {
  const { proxy, backend } = cast;
  const logStart = proxy.log.length;
  const bytesStart = proxy.appBytes;
  const hitsStart = backend.hits;
  const requestsStart = backend.requests.length;
  const proxyUrl = `http://127.0.0.1:${proxy.port}`;
  const anchors = cast.device.subjects();
  const anchorDers = cast.device.pems().flatMap((pem) => decodePem(pem).map((block) => block.der));
  const real = [cast.backend.leaf, cast.intermediate].map((certificate) => viewCertificate(certificate.der));
  const warnings: string[] = [];

  const result = await requestProfile(cast.origin, cast.token, {
    policy: request.policy,
    anchors: cast.device.pems(),
    lookup: cast.lookup,
    proxy: request.viaProxy ? proxyUrl : undefined,
    onWarning: (message) => warnings.push(message),
    ...(options.onKeylog ? { onKeylog: options.onKeylog } : {}),
  });
  // The app has closed its connections; let the proxy finish logging its side of them.
  await proxy.idle({ timeoutMs: 5000 });

  const log = proxy.log.slice(logStart);
  const appBytes = proxy.appBytes - bytesStart;
  const backendHits = backend.hits - hitsStart;
  const tokenLeaked = JSON.stringify(log).includes(cast.token);
  return {
    ...request,
    host: cast.host,
    token: cast.token,
    url: `${cast.origin}/user/profile`,
    proxyUrl: request.viaProxy ? proxyUrl : null,
    pins: pinsOf(request.policy),
    anchors,
    attackerPin: cast.pins.attacker,
    result,
    presented: result.presented.map(viewCertificate),
    real,
    verifiedPath: pathCertificates(chainOf(result), [...result.presented, ...anchorDers]),
    warnings,
    log,
    appBytes,
    backendHits,
    served: backend.requests.slice(requestsStart),
    tokenLeaked,
    observation: classify(result, tokenLeaked, appBytes, backendHits),
  };
}
