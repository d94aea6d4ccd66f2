// The verdict engine: pure data over the proxy's events. Feed it every InterceptEvent (AuditLog.record), then ask
// for the verdicts (verdictsOf). Nothing here touches a socket, so every rule is tested on recorded events too.
//
// The rules come from measuring real clients through @keypin/proxy (packages/audit/test/clients.test.ts):
// - curl trusting the CA and unpinned: handshake, then application data.
// - curl --pinnedpubkey: handshake completed, then closed with no data and no alert.
// - curl without the CA: the handshake fails with the alert unknown_ca.
// - Node without the CA on TLS 1.2: handshake completed (the server's side), then closed with no data and no
//   alert: exactly what curl --pinnedpubkey does. On TLS 1.3: closed during the handshake, no alert.
// - Node pinned by @keypin/node (undici, TLS 1.3): closed during the handshake, no alert.
// So a handshake completed then closed is not by itself proof of pinning (Node on TLS 1.2 does it for a CA it
// does not trust): `pinned` always needs a control, the same client (source address and ClientHello
// fingerprint) intercepted on another host in this session. The alert unknown_ca is direct proof of distrust.
import type { InterceptEvent } from "@keypin/proxy";
import { fingerprintOf, parseClientHello } from "./client-hello.js";
import { canonicalHost } from "./host.js";
import { isSecretHeader, maskTarget, maskValue } from "./mask.js";

/** One tunnel, summarised. */
export interface TunnelRecord {
  tunnel: number;
  /** The SNI name, else the CONNECT host. */
  host: string;
  port: number;
  clientAddress: string;
  /** ClientHello fingerprint; "" when the client sent no parsable ClientHello. */
  fingerprint: string;
  protocol?: string;
  handshake: boolean;
  appBytes: number;
  closed: boolean;
  failures: { stage: string; reason: string }[];
  requests: RequestEvidence[];
}

/** A request seen over the forged certificate: request line and header names; secret values masked. */
export interface RequestEvidence {
  requestLine: string;
  headerNames: string[];
  /** Header values that are secrets: masked unless showSecrets. */
  secrets: Record<string, string>;
}

export type VerdictKind = "intercepted" | "pinned" | "ca-not-trusted" | "undetermined" | "not-seen";

/** A verdict for one client (address + fingerprint) and one host. */
export interface Verdict {
  host: string;
  client: { address: string; fingerprint: string };
  verdict: VerdictKind;
  /** Why, in a sentence, and what to do. */
  explanation: string;
  evidence: {
    tunnels: number[];
    /** intercepted: what the client sent over the forged certificate. */
    requests?: RequestEvidence[];
    /** rejections: how the client refused, per tunnel. */
    refusals?: { tunnel: number; handshake: boolean; reason: string }[];
    /** pinned: the control proving the audit CA trusted by this client. */
    control?: { host: string; tunnel: number; basis: "same address and ClientHello fingerprint" };
    /** Whether the verdict is an inference from another host (a control) rather than seen on this host alone. */
    inferred?: boolean;
  };
}

/**
 * Collects the proxy's events into tunnel records.
 *
 * @example
 * const log = new AuditLog();
 * const proxy = await InterceptingProxy.start({ forge, onEvent: (e) => log.record(e) });
 */
export class AuditLog {
  readonly tunnels = new Map<number, TunnelRecord>();
  constructor(readonly options: { showSecrets?: boolean } = {}) {}

  record(event: InterceptEvent): TunnelRecord | undefined {
    if (event.kind === "connect") {
      const record: TunnelRecord = {
        tunnel: event.tunnel,
        host: canonicalHost(event.host),
        port: event.port,
        clientAddress: event.client.address,
        fingerprint: "",
        handshake: false,
        appBytes: 0,
        closed: false,
        failures: [],
        requests: [],
      };
      this.tunnels.set(event.tunnel, record);
      return record;
    }
    const record = this.tunnels.get(event.tunnel);
    if (!record) return undefined;
    switch (event.kind) {
      case "client-hello": {
        const hello = parseClientHello(event.record);
        if (hello) {
          record.fingerprint = fingerprintOf(hello);
          if (hello.servername) record.host = canonicalHost(hello.servername);
        }
        break;
      }
      case "handshake":
        record.handshake = true;
        record.protocol = event.protocol;
        break;
      case "request":
        record.requests.push(this.#evidence(event.message.startLine, event.message.headers));
        break;
      case "failure":
        record.failures.push({ stage: event.stage, reason: event.reason });
        break;
      case "closed":
        record.closed = true;
        record.appBytes = event.appBytes;
        record.handshake = event.handshake;
        break;
      default:
        break;
    }
    return record;
  }

  #evidence(startLine: string, headers: Record<string, string>): RequestEvidence {
    const show = this.options.showSecrets === true;
    const [method = "", target = "", version = ""] = startLine.split(" ");
    const secrets: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers))
      if (isSecretHeader(name)) secrets[name] = show ? value : maskValue(value);
    return {
      requestLine: show ? startLine : `${method} ${maskTarget(target)} ${version}`.trim(),
      headerNames: Object.keys(headers),
      secrets,
    };
  }
}

const clientKey = (r: { clientAddress: string; fingerprint: string }): string =>
  `${r.clientAddress}|${r.fingerprint}`;
const wasIntercepted = (r: TunnelRecord): boolean => r.appBytes > 0 || r.requests.length > 0;
const saidUnknownCa = (r: TunnelRecord): boolean => r.failures.some((f) => /UNKNOWN_CA/i.test(f.reason));

function refusalOf(r: TunnelRecord): { tunnel: number; handshake: boolean; reason: string } {
  const failure = r.failures.find((f) => f.stage === "client-handshake") ?? r.failures[0];
  const reason = failure
    ? failure.reason
    : r.handshake
      ? "handshake completed, then closed with no application data"
      : "closed during the handshake, no alert";
  return { tunnel: r.tunnel, handshake: r.handshake, reason };
}

/**
 * The verdicts, one per (client, host), from the closed tunnels (open ones are not judged yet). `expected` hosts
 * (a policy's, or --expect-pinned) that no client reached get `not-seen`.
 *
 * @example
 * const verdicts = verdictsOf([...log.tunnels.values()], ["api.example.com"]);
 */
export function verdictsOf(records: TunnelRecord[], expected: string[] = []): Verdict[] {
  const done = records.filter((r) => r.closed && r.fingerprint !== "");
  const groups = new Map<string, TunnelRecord[]>();
  for (const r of done) {
    const key = `${clientKey(r)}|${r.host}`;
    // Appended in place: copying the group per record made this quadratic (4,000 tunnels of one client and
    // host took 0.2 s per call, 16,000 took 4 s).
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  const interceptedBy = new Map<string, TunnelRecord>();
  for (const r of done)
    if (wasIntercepted(r) && !interceptedBy.has(clientKey(r))) interceptedBy.set(clientKey(r), r);
  const hostsOf = new Map<string, Set<string>>();
  for (const r of done) hostsOf.set(clientKey(r), (hostsOf.get(clientKey(r)) ?? new Set()).add(r.host));

  const verdicts: Verdict[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const base = {
      host: first.host,
      client: { address: first.clientAddress, fingerprint: first.fingerprint },
    };
    const tunnels = group.map((r) => r.tunnel);
    const intercepted = group.filter(wasIntercepted);
    if (intercepted.length > 0) {
      verdicts.push({
        ...base,
        verdict: "intercepted",
        explanation: `The client sent application data over the audit CA's forged certificate for ${first.host}: it does not pin this host.`,
        evidence: { tunnels, requests: intercepted.flatMap((r) => r.requests) },
      });
      continue;
    }
    const refusals = group.map(refusalOf);
    if (group.some(saidUnknownCa)) {
      verdicts.push({
        ...base,
        verdict: "ca-not-trusted",
        explanation:
          "The client answered the forged certificate with the alert unknown_ca: it does not trust the audit CA. " +
          "Install the CA (see the instructions printed at start) and, on Android, audit a debug build that trusts it " +
          "(keypin export --format android-nsc --audit-ca FILE).",
        evidence: { tunnels, refusals },
      });
      continue;
    }
    const control = interceptedBy.get(clientKey(first));
    if (control) {
      const postHandshake = group.every((r) => r.handshake);
      verdicts.push({
        ...base,
        verdict: "pinned",
        explanation:
          `The client refused the forged certificate for ${first.host} ${postHandshake ? "after completing the handshake (a check after the handshake, as curl --pinnedpubkey and OkHttp's CertificatePinner do)" : "during the handshake"}, ` +
          `while the same client (same address and ClientHello fingerprint) was intercepted on ${control.host}: the audit CA is trusted, so the refusal is a pin. ` +
          "This is an inference from another host: apps sharing one address and TLS stack look alike, so audit one app per session (--hosts narrows it).",
        evidence: {
          tunnels,
          refusals,
          control: {
            host: control.host,
            tunnel: control.tunnel,
            basis: "same address and ClientHello fingerprint",
          },
          inferred: true,
        },
      });
      continue;
    }
    const everyHost = (hostsOf.get(clientKey(first))?.size ?? 0) >= 2;
    verdicts.push({
      ...base,
      verdict: everyHost ? "ca-not-trusted" : "undetermined",
      explanation: everyHost
        ? "This client refused every host it tried and was intercepted on none: most likely the audit CA is not installed or not trusted by this app (or every host it reached is pinned). Install the CA and trust it (Android: a debug build with keypin export --audit-ca; iOS: Certificate Trust Settings), then make the app reach one unpinned host as a control."
        : "The client refused the forged certificate, and nothing in this session tells a pin from a CA it does not trust. To decide, make the same app reach a host it does not pin (the control), or audit a debug build that trusts the audit CA.",
      evidence: { tunnels, refusals },
    });
  }
  const seen = new Set(done.map((r) => r.host));
  for (const host of expected) {
    if (seen.has(canonicalHost(host))) continue;
    verdicts.push({
      host: canonicalHost(host),
      client: { address: "", fingerprint: "" },
      verdict: "not-seen",
      explanation: `No client reached ${host} through the audit proxy: exercise the part of the app that calls it.`,
      evidence: { tunnels: [] },
    });
  }
  return verdicts.sort(
    (a, b) => a.host.localeCompare(b.host) || a.client.fingerprint.localeCompare(b.client.fingerprint),
  );
}

/** The outcome for expected hosts: exit 0 when every one is pinned for every client that reached it. */
export function expectationOf(
  verdicts: Verdict[],
  expected: string[],
): { ok: boolean; failing: { host: string; verdict: VerdictKind }[] } {
  const failing: { host: string; verdict: VerdictKind }[] = [];
  for (const host of expected.map(canonicalHost)) {
    const forHost = verdicts.filter((v) => v.host === host);
    const bad = forHost.find((v) => v.verdict !== "pinned");
    if (forHost.length === 0) failing.push({ host, verdict: "not-seen" });
    else if (bad) failing.push({ host, verdict: bad.verdict });
  }
  return { ok: failing.length === 0, failing };
}
