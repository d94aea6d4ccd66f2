import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import {
  type ChainEntry,
  computePin,
  decodePem,
  isKeypinError,
  type PinVerdict,
  type Policy,
  type PolicyFile,
  parseCertificate,
  parsePolicy,
} from "@keypin/core";
import { buildVerifiedPath, createPinnedDispatcher, PinMismatchError, sha256 } from "@keypin/node";
import type { LookupFunction } from "./lookup.js";

/** How an app is built for one scenario. */
export interface LabAppConfig {
  /** The app's pin set; `undefined`: the app does not pin (it trusts whatever the device trusts). */
  policy: PolicyFile | undefined;
  /** The device's trust store (PEM); the app trusts these and nothing else (`caOnly`). */
  anchors: string[];
  /** The lab's name resolution. */
  lookup: LookupFunction;
  /** An HTTP CONNECT proxy the network sends the app through. */
  proxy?: string | undefined;
  /** Warnings @keypin/node gives about the policy (a missing backup pin, an expired pin set). */
  onWarning?: (message: string) => void;
  /** Every NSS key log line (without its newline) of every TLS session this app opens. */
  onKeylog?: (line: string) => void;
}

/** What the app saw of the TLS connection: the verified path with its pins, and the pin verdict. */
export interface ConnectionView {
  /** The verified path, leaf first, anchor last, each with subject and pin. */
  chain: ChainEntry[];
  /** The leaf's issuer as written in the leaf. */
  leafIssuer: string;
  /** The verdict keypin reached for this chain (not-pinned when the app has no pin set). */
  verdict: PinVerdict;
}

/**
 * How the app's request ended, with `presented`: the certificates (DER, leaf first) the server the app's TLS
 * session reached (the backend, or the proxy posing as it) sent in its handshake, `[]` when none completed
 * (see `readPresented`).
 */
export type LabAppResult = (
  | { kind: "response"; status: number; body: string; connection: ConnectionView | undefined }
  | { kind: "pin-mismatch"; error: PinMismatchError }
  | { kind: "error"; code: string; message: string }
) & { presented: Uint8Array[] };

const connectedChannel = "undici:client:connected";

function findPinMismatch(error: unknown): PinMismatchError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof PinMismatchError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (isKeypinError(current)) return current.code;
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && code !== "UND_ERR_SOCKET") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return "ERR_UNKNOWN";
}

/** The certificates a TLS peer sent, leaf first, as Node links them (DER). */
function peerChain(socket: TLSSocket): Uint8Array[] {
  const served: Uint8Array[] = [];
  const seen = new Set<string>();
  let current = socket.getPeerCertificate(true);
  while (current?.raw && served.length < 16) {
    const key = current.raw.toString("base64");
    if (seen.has(key)) break;
    seen.add(key);
    served.push(new Uint8Array(current.raw));
    current = current.issuerCertificate;
  }
  return served;
}

/**
 * Every certificate the server sent in this handshake, exactly as received and in order (the proxy's genuine
 * intermediate that links to nothing included), read when the handshake is done and before Node's checks run.
 * Node 20 hands that list out once (getPeerX509Certificate empties the peer chain on the way), so the socket's
 * `getPeerCertificate` is first snapshotted and then answers with that snapshot: Node's own check, keypin's pin check
 * and the narration read exactly what Node would have given them (as @keypin/node's inspectTls does).
 */
function readPresented(socket: TLSSocket): Uint8Array[] {
  const detailed = socket.getPeerCertificate(true);
  const { issuerCertificate: _issuer, ...leaf } = detailed as DetailedPeerCertificate;
  const sent: Uint8Array[] = [];
  let current = socket.getPeerX509Certificate();
  while (current && sent.length < 32) {
    sent.push(new Uint8Array(current.raw));
    current = current.issuerCertificate;
  }
  socket.getPeerCertificate = ((full?: boolean) =>
    full ? detailed : leaf) as TLSSocket["getPeerCertificate"];
  return sent;
}

/**
 * Describes the connection the app made, for the narration: the leaf's issuer, the verified path with its pins, and
 * the verdict @keypin/node reached on this handshake (given to its `onVerdict`). A verdict carries the path it was
 * reached on; when there is none (the app pins nothing, or its pin set expired) the path is built here the same way,
 * against the device's anchors, only to show what the device trusted. Called for a connection already accepted.
 */
function describeConnection(
  socket: TLSSocket,
  anchors: string[],
  host: string,
  verdict: PinVerdict | undefined,
): ConnectionView {
  const served = peerChain(socket);
  const leafIssuer = served[0] ? parseCertificate(served[0]).issuer : "";
  if (verdict && verdict.verdict !== "not-pinned") return { chain: verdict.chainPins, leafIssuer, verdict };
  const anchorDers = anchors.flatMap((pem) => decodePem(pem).map((block) => block.der));
  const chain = (buildVerifiedPath(served, anchorDers) ?? []).map((der) => {
    const info = parseCertificate(der);
    return { subject: info.subject, pin: computePin(info.spki, sha256) };
  });
  return { chain, leafIssuer, verdict: verdict ?? { verdict: "not-pinned", host, reason: "no-policy" } };
}

/**
 * The app: a client built on @keypin/node's pinned dispatcher (undici), trusting only the device's store,
 * resolving names through the lab, asking for `GET /user/profile` with its bearer token.
 * A fresh dispatcher per request, so no connection or TLS session outlives its scenario.
 *
 * @example
 * const result = await requestProfile(`https://api.myapp.com:${port}`, token, { policy, anchors, lookup });
 * if (result.kind === "pin-mismatch") console.log(result.error.expectedPins);
 */
export async function requestProfile(
  origin: string,
  token: string,
  config: LabAppConfig,
): Promise<LabAppResult> {
  const url = new URL(origin);
  const host = url.hostname;
  const port = Number(url.port || 443);
  const policy: Policy = config.policy ? parsePolicy(config.policy).policy : { domains: [] };
  const lookup: LookupFunction = config.lookup;
  let presented: Uint8Array[] = [];
  const onKeylog = config.onKeylog;
  let verdict: PinVerdict | undefined;
  const dispatcher = createPinnedDispatcher({
    policy,
    ca: config.anchors,
    caOnly: true,
    ...(config.proxy ? { proxy: config.proxy } : {}),
    connect: { lookup },
    onWarning: config.onWarning ?? (() => {}),
    // Each TLS socket of this app, before its handshake: the certificates its peer sent, read when the handshake
    // is done and before Node's checks (which destroy the socket on a refusal) run, and its key log lines.
    onSocket: (socket) => {
      socket.prependListener("secure", () => {
        presented = readPresented(socket);
      });
    },
    ...(onKeylog
      ? { onKeylog: (line: Buffer) => onKeylog(line.toString("latin1").replace(/\r?\n$/, "")) }
      : {}),
    // The dispatcher's own verdict on the handshake, for the narration (the backend, not the proxy tunnel).
    onVerdict: (v) => {
      if (v.host === host) verdict = v;
    },
  });
  let connection: ConnectionView | undefined;
  const onConnected = (message: unknown): void => {
    const { socket, connectParams } = message as {
      socket: TLSSocket;
      connectParams: { hostname: string; port: string | number };
    };
    // Only this app's connection to the backend (not its tunnel to the proxy, not another client's).
    if (connectParams.hostname !== host || Number(connectParams.port || 443) !== port) return;
    if (typeof socket.getPeerCertificate !== "function") return;
    connection = describeConnection(socket, config.anchors, host, verdict);
  };
  subscribe(connectedChannel, onConnected);
  try {
    const response = await dispatcher.request({
      origin,
      path: "/user/profile",
      method: "GET",
      headers: { authorization: `Bearer ${token}`, "user-agent": "MyApp/1.0 (keypin lab)" },
    });
    const body = await response.body.text();
    return { kind: "response", status: response.statusCode, body, connection, presented };
  } catch (error) {
    const mismatch = findPinMismatch(error);
    if (mismatch) return { kind: "pin-mismatch", error: mismatch, presented };
    return { kind: "error", code: errorCode(error), message: (error as Error).message, presented };
  } finally {
    unsubscribe(connectedChannel, onConnected);
    await dispatcher.destroy();
  }
}
