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
// A control proves trust only for the names the audit CA is valid for: with --name-constraints, a client that
// trusts the CA refuses a leaf for any other name (curl: "permitted subtree violation"), pinned or not, so a host
// outside the constraints is never inferred `pinned` (it is `ca-not-trusted`, and says why).
// Application data over the forged certificate is interception whatever the ClientHello: a tunnel whose hello
// could not be read (no fingerprint) is still `intercepted`; it only cannot be a control.
import type { InterceptEvent } from "@keypin/proxy";
import { fingerprintOf, parseClientHello } from "./client-hello.js";
import { canonicalHost, clipPrintable, isHostName } from "./host.js";
import { isSecretHeader, maskRequestLine, maskValue } from "./mask.js";
import { permitsHost } from "./name-constraints.js";

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
  /** The first {@link LIMITS}.requestsPerTunnel requests' evidence. */
  requests: RequestEvidence[];
  /** Every request seen on the tunnel, counted (exact, whatever `requests` keeps). */
  requestCount: number;
  /**
   * The SNI name the client sent when it is no host name (control characters, spaces, commas...), escaped: such a
   * tunnel keeps the CONNECT host and is left out of the verdicts (the name cannot say which host was refused).
   */
  invalidSni?: string;
}

/**
 * What the audit keeps, so that a peer's traffic cannot grow it without bound (measured: 1,000,000 pipelined
 * requests on one tunnel kept 172 MiB and made a 60 MiB report; 200 tunnels of 16 requests with 60 KiB heads of
 * control bytes kept 330 MiB, each byte escaped to 4, and a report JSON.stringify could not make). Counts stay
 * exact; only evidence is bounded, in number and in size.
 */
export const LIMITS = {
  /** Requests whose evidence (request line, header names) a tunnel keeps; the rest are counted. */
  requestsPerTunnel: 16,
  /** Characters of a request line kept, once escaped; a longer one is cut and says so (`…<cut, N chars>`). */
  requestLineChars: 512,
  /** Header names kept per request (the rest counted in `headerCount`), and characters of each, once escaped. */
  headerNames: 32,
  headerNameChars: 64,
  /** Characters of a secret header's value kept with --show-secrets, once escaped (masked values are short). */
  secretValueChars: 512,
  /**
   * Bytes (UTF-8, with a fixed overhead per string) of request evidence kept in all; past it, requests are
   * counted, not kept (AuditLog.dropped.requestEvidence).
   */
  evidenceBytes: 32 * 2 ** 20,
  /** Requests, and refusals, listed in one verdict's evidence; the rest are counted. */
  evidencePerVerdict: 16,
  /** Tunnel numbers listed in one verdict's evidence; the rest are counted. */
  tunnelsPerVerdict: 64,
  /** Closed tunnels kept per client and host beyond the first of each outcome; the rest are folded into counts. */
  recordsPerGroup: 32,
  /** Closed tunnels kept in all; beyond, a tunnel whose outcome its client and host already have is folded into
   * counts, and one that would start a new client and host is dropped (counted in AuditLog.dropped). */
  records: 20_000,
  /**
   * Past `records`, closed tunnels still kept when they carried application data to an expected host (any peer
   * can fill `records` with cheap ClientHellos; the interception of an expected host is never hidden by it).
   * A tunnel to an expected host dropped all the same is counted per host (AuditLog.droppedExpected), and the
   * expectation fails on it.
   */
  reservedRecords: 2_000,
  /** Past `evidenceBytes`, bytes of request evidence still kept for requests to an expected host. */
  reservedEvidenceBytes: 8 * 2 ** 20,
  /** Expected hosts whose dropped tunnels are counted one by one (the rest in `dropped.overLimitExpected` only). */
  droppedHosts: 64,
} as const;

/** Closed tunnels of one client and host folded into counts (their outcome was already kept). */
export interface Folded {
  tunnels: number;
  requests: number;
}

/**
 * A request seen over the forged certificate: request line and header names; secret values masked. Bounded
 * ({@link LIMITS}): a request line over `requestLineChars` ends with `…<cut, N chars>` (N: its length as sent, or
 * as masked), a header name over `headerNameChars` with `…`.
 */
export interface RequestEvidence {
  requestLine: string;
  /** The first {@link LIMITS}.headerNames header names. */
  headerNames: string[];
  /** Every header name of the request, when there were more than `headerNames` lists. */
  headerCount?: number;
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
    /** The first {@link LIMITS}.tunnelsPerVerdict tunnels. */
    tunnels: number[];
    /** Every tunnel of this client and host (exact). */
    tunnelCount: number;
    /** Every request this client sent to this host over the forged certificate (exact); `requests` lists the first. */
    requestCount?: number;
    /** intercepted: what the client sent over the forged certificate. */
    requests?: RequestEvidence[];
    /** rejections: how the client refused, per tunnel. */
    refusals?: { tunnel: number; handshake: boolean; reason: string }[];
    /**
     * ca-not-trusted: the audit CA's name constraints (as AuditCa.nameConstraints), which do not permit this host:
     * the client refused a certificate the CA is not valid for, so no control can make the refusal a pin.
     */
    outsideNameConstraints?: string[];
    /**
     * intercepted: "unparsed" when the client's ClientHello could not be read, so the client has no fingerprint
     * (`client.fingerprint` is ""): the verdict rests on the application data alone, and is no control elsewhere.
     */
    clientHello?: "unparsed";
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
  /** Closed tunnels folded into counts, per groupKey (client and host): their outcome was already kept. */
  readonly folded = new Map<string, Folded>();
  /**
   * Closed tunnels not kept: `unjudged` had an SNI name that is no host, or no parsable ClientHello and no
   * application data (they give no verdict); `overLimit` would have started a new client and host after
   * LIMITS.records tunnels were kept. `requestEvidence`: requests counted whose evidence was not kept, past
   * LIMITS.evidenceBytes.
   */
  readonly dropped = { unjudged: 0, overLimit: 0, requestEvidence: 0, overLimitExpected: 0 };
  /**
   * Per expected host (options.expected), its closed tunnels dropped over the limit (of `overLimit`; at most
   * LIMITS.droppedHosts hosts): their outcome is unknown, so the host is not proven pinned.
   */
  readonly droppedExpected = new Map<string, number>();
  /** Records kept past LIMITS.records (application data to an expected host), and evidence bytes past the budget. */
  #reservedRecords = 0;
  #reservedBytes = 0;
  /** Bytes of request evidence kept (see LIMITS.evidenceBytes). */
  #evidenceBytes = 0;
  /** Per groupKey: the outcomes kept and how many closed records are kept. */
  readonly #kept = new Map<string, { outcomes: Set<string>; records: number }>();
  #keptRecords = 0;
  /**
   * `expected`: whether a host's verdicts decide the expectation (an --expect-pinned or policy host, one a policy
   * covers): what such a host's tunnels sent is kept past the limits (LIMITS.reservedRecords,
   * LIMITS.reservedEvidenceBytes), and what is dropped all the same is counted in `droppedExpected`.
   */
  constructor(readonly options: { showSecrets?: boolean; expected?: (host: string) => boolean } = {}) {}

  #isExpected(host: string): boolean {
    return this.options.expected?.(host) === true;
  }

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
        requestCount: 0,
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
          if (hello.servername) {
            const name = canonicalHost(hello.servername);
            if (isHostName(name)) record.host = name;
            else record.invalidSni = clipPrintable(hello.servername, 255).text;
          }
        }
        break;
      }
      case "handshake":
        record.handshake = true;
        record.protocol = event.protocol;
        break;
      case "request": {
        record.requestCount += 1;
        if (record.requests.length >= LIMITS.requestsPerTunnel) break;
        const reserved = this.#evidenceBytes >= LIMITS.evidenceBytes;
        if (
          reserved &&
          (this.#reservedBytes >= LIMITS.reservedEvidenceBytes || !this.#isExpected(record.host))
        ) {
          this.dropped.requestEvidence += 1;
          break;
        }
        const evidence = this.#evidence(event.message.startLine, event.message.headers);
        if (reserved) this.#reservedBytes += sizeOf(evidence);
        else this.#evidenceBytes += sizeOf(evidence);
        record.requests.push(evidence);
        break;
      }
      case "failure":
        // Each stage fails once per tunnel; bounded all the same (the reasons are kept for the refusal's evidence).
        if (record.failures.length < 8)
          record.failures.push({ stage: event.stage, reason: clipPrintable(event.reason, 300).text });
        break;
      case "closed":
        if (record.closed) break;
        record.closed = true;
        record.appBytes = event.appBytes;
        record.handshake = event.handshake;
        this.#settle(record);
        break;
      default:
        break;
    }
    return record;
  }

  /** A closed record is kept, folded into its group's counts, or dropped (see LIMITS and `dropped`). */
  #settle(record: TunnelRecord): void {
    if (!isJudged(record)) {
      this.tunnels.delete(record.tunnel);
      this.dropped.unjudged += 1;
      return;
    }
    const key = groupKey(record);
    const outcome = `${wasIntercepted(record)}|${saidUnknownCa(record)}|${record.handshake}`;
    const kept = this.#kept.get(key);
    const known = kept?.outcomes.has(outcome) === true;
    if (known && (kept!.records >= LIMITS.recordsPerGroup || this.#keptRecords >= LIMITS.records)) {
      this.tunnels.delete(record.tunnel);
      const folded = this.folded.get(key) ?? { tunnels: 0, requests: 0 };
      folded.tunnels += 1;
      folded.requests += record.requestCount;
      this.folded.set(key, folded);
      return;
    }
    if (!kept && this.#keptRecords >= LIMITS.records) {
      const expected = this.#isExpected(record.host);
      if (expected && wasIntercepted(record) && this.#reservedRecords < LIMITS.reservedRecords) {
        this.#reservedRecords += 1;
      } else {
        this.tunnels.delete(record.tunnel);
        this.dropped.overLimit += 1;
        if (expected) {
          this.dropped.overLimitExpected += 1;
          const n = this.droppedExpected.get(record.host);
          if (n !== undefined || this.droppedExpected.size < LIMITS.droppedHosts)
            this.droppedExpected.set(record.host, (n ?? 0) + 1);
        }
        return;
      }
    }
    if (kept) {
      kept.outcomes.add(outcome);
      kept.records += 1;
    } else this.#kept.set(key, { outcomes: new Set([outcome]), records: 1 });
    this.#keptRecords += 1;
  }

  /** A request's evidence, escaped (what a peer sent is printed in the table and the report) and bounded (LIMITS). */
  #evidence(startLine: string, headers: Record<string, string>): RequestEvidence {
    const show = this.options.showSecrets === true;
    const line = show ? startLine : maskRequestLine(startLine);
    const clipped = clipPrintable(line, LIMITS.requestLineChars);
    const names = Object.keys(headers);
    const kept = names.slice(0, LIMITS.headerNames);
    const nameOf = (name: string): string => {
      const { text, cut } = clipPrintable(name, LIMITS.headerNameChars);
      return cut ? `${text}…` : text;
    };
    const secrets: Record<string, string> = {};
    for (const name of kept) {
      if (!isSecretHeader(name)) continue;
      const value = headers[name]!;
      const shown = clipPrintable(value, LIMITS.secretValueChars);
      secrets[nameOf(name)] = show
        ? shown.cut
          ? `${shown.text}…<cut, ${value.length} chars>`
          : shown.text
        : maskValue(value);
    }
    return {
      requestLine: clipped.cut ? `${clipped.text}…<cut, ${line.length} chars>` : clipped.text,
      headerNames: kept.map(nameOf),
      ...(names.length > kept.length ? { headerCount: names.length } : {}),
      secrets,
    };
  }
}

/** What a request's evidence weighs against LIMITS.evidenceBytes: its strings in UTF-8, 16 bytes more each. */
function sizeOf(e: RequestEvidence): number {
  let n = 64 + Buffer.byteLength(e.requestLine);
  for (const name of e.headerNames) n += 16 + Buffer.byteLength(name);
  for (const [name, value] of Object.entries(e.secrets))
    n += 32 + Buffer.byteLength(name) + Buffer.byteLength(value);
  return n;
}

/** The key of a tunnel's client (source address and ClientHello fingerprint) and host: one verdict each. */
export const groupKey = (r: { clientAddress: string; fingerprint: string; host: string }): string =>
  `${r.clientAddress}|${r.fingerprint}|${r.host}`;
const clientKey = (r: { clientAddress: string; fingerprint: string }): string =>
  `${r.clientAddress}|${r.fingerprint}`;
const wasIntercepted = (r: TunnelRecord): boolean =>
  r.appBytes > 0 || r.requestCount > 0 || r.requests.length > 0;
const saidUnknownCa = (r: TunnelRecord): boolean => r.failures.some((f) => /UNKNOWN_CA/i.test(f.reason));
/**
 * Whether a tunnel gives a verdict: its SNI name (if any) is a host, and it has a fingerprint or was intercepted
 * (application data over the forged certificate needs no fingerprint to say so; a refusal does, for its control).
 */
const isJudged = (r: TunnelRecord): boolean =>
  r.invalidSni === undefined && (r.fingerprint !== "" || wasIntercepted(r));

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
 * (a policy's, or --expect-pinned) that no client reached get `not-seen`. `nameConstraints` are the audit CA's
 * (AuditCa.nameConstraints; none: valid for every host): a refusal of a host outside them is `ca-not-trusted`.
 *
 * @example
 * const verdicts = verdictsOf([...log.tunnels.values()], ["api.example.com"], log.folded, ca.nameConstraints);
 */
export function verdictsOf(
  records: TunnelRecord[],
  expected: string[] = [],
  folded: ReadonlyMap<string, Folded> = new Map(),
  nameConstraints: readonly string[] = [],
): Verdict[] {
  const done = records.filter((r) => r.closed && isJudged(r));
  const permitted = new Map<string, boolean>();
  const inside = (host: string): boolean => {
    const known = permitted.get(host);
    if (known !== undefined) return known;
    const permits = permitsHost(nameConstraints, host);
    permitted.set(host, permits);
    return permits;
  };
  const groups = new Map<string, TunnelRecord[]>();
  for (const r of done) {
    const key = groupKey(r);
    // Appended in place: copying the group per record made this quadratic (4,000 tunnels of one client and
    // host took 0.2 s per call, 16,000 took 4 s).
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  const interceptedBy = new Map<string, TunnelRecord>();
  for (const r of done)
    if (wasIntercepted(r) && r.fingerprint !== "" && !interceptedBy.has(clientKey(r)))
      interceptedBy.set(clientKey(r), r);
  // The hosts each client tried that the CA is valid for: a refusal outside the constraints says nothing of trust.
  const hostsOf = new Map<string, Set<string>>();
  for (const r of done)
    if (inside(r.host)) hostsOf.set(clientKey(r), (hostsOf.get(clientKey(r)) ?? new Set()).add(r.host));

  const verdicts: Verdict[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const base = {
      host: first.host,
      client: { address: first.clientAddress, fingerprint: first.fingerprint },
    };
    const more = folded.get(groupKey(first));
    const tunnelCount = group.length + (more?.tunnels ?? 0);
    const tunnels = group.slice(0, LIMITS.tunnelsPerVerdict).map((r) => r.tunnel);
    const intercepted = group.filter(wasIntercepted);
    if (intercepted.length > 0) {
      const requests: RequestEvidence[] = [];
      for (const r of intercepted) {
        for (const e of r.requests) if (requests.length < LIMITS.evidencePerVerdict) requests.push(e);
        if (requests.length >= LIMITS.evidencePerVerdict) break;
      }
      const requestCount = intercepted.reduce((n, r) => n + r.requestCount, 0) + (more?.requests ?? 0);
      const unparsed = first.fingerprint === "";
      verdicts.push({
        ...base,
        verdict: "intercepted",
        explanation:
          `The client sent application data over the audit CA's forged certificate for ${first.host}: it does not pin this host.` +
          (unparsed
            ? " Its ClientHello could not be read, so this client has no fingerprint: the verdict rests on the data alone, and it is no control for another host."
            : ""),
        evidence: {
          tunnels,
          tunnelCount,
          requestCount,
          requests,
          ...(unparsed ? { clientHello: "unparsed" } : {}),
        },
      });
      continue;
    }
    const refusals = group.slice(0, LIMITS.evidencePerVerdict).map(refusalOf);
    if (!inside(first.host)) {
      verdicts.push({
        ...base,
        verdict: "ca-not-trusted",
        explanation:
          `${first.host} is outside the audit CA's name constraints (${nameConstraints.join(", ")}): the CA is not valid for it, ` +
          "so a client that trusts the CA refuses its forged certificate whether it pins or not, and no control can tell. " +
          `To audit ${first.host}, add it to --name-constraints (a new CA is made; install it again).`,
        evidence: { tunnels, tunnelCount, refusals, outsideNameConstraints: [...nameConstraints] },
      });
      continue;
    }
    if (group.some(saidUnknownCa)) {
      verdicts.push({
        ...base,
        verdict: "ca-not-trusted",
        explanation:
          "The client answered the forged certificate with the alert unknown_ca: it does not trust the audit CA. " +
          "Install the CA (see the instructions printed at start) and, on Android, audit a debug build that trusts it " +
          "(keypin export --format android-nsc --audit-ca FILE).",
        evidence: { tunnels, tunnelCount, refusals },
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
          "This is an inference from another host, not a pin seen on this one: apps sharing one address and TLS stack look alike. " +
          "To make it firm, audit one app per session, limit the judged hosts to the app's with --hosts (one unpinned host among them as the control), " +
          "and audit a debug build that trusts the audit CA (keypin export --format android-nsc --audit-ca FILE).",
        evidence: {
          tunnels,
          tunnelCount,
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
      evidence: { tunnels, tunnelCount, refusals },
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
      evidence: { tunnels: [], tunnelCount: 0 },
    });
  }
  return verdicts.sort(
    (a, b) => a.host.localeCompare(b.host) || a.client.fingerprint.localeCompare(b.client.fingerprint),
  );
}

/**
 * One reason the expectation fails: a host with a verdict other than `pinned` (`not-seen` for an expected host no
 * client reached), or `over-limit`: tunnels to it were dropped past the audit's limits, so their outcome is
 * unknown (`tunnels` says how many, `explanation` what to do).
 */
export interface ExpectationFailure {
  host: string;
  verdict: VerdictKind | "over-limit";
  tunnels?: number;
  explanation?: string;
}

/**
 * The outcome for expected hosts: ok when every one is pinned for every client that reached it, every host
 * `covers` says the expectation covers (a policy's subdomains, with includeSubdomains) is pinned for every client
 * that reached it (such a host is not required to be seen), and no tunnel to either was dropped over the limit
 * (`dropped`: AuditLog.droppedExpected; `droppedElsewhere`: the rest of AuditLog.dropped.overLimitExpected).
 */
export function expectationOf(
  verdicts: Verdict[],
  expected: string[],
  options: {
    covers?: (host: string) => boolean;
    dropped?: ReadonlyMap<string, number>;
    droppedElsewhere?: number;
  } = {},
): { ok: boolean; failing: ExpectationFailure[] } {
  const failing: ExpectationFailure[] = [];
  const exact = [...new Set(expected.map(canonicalHost))];
  const byHost = new Map<string, Verdict[]>();
  for (const v of verdicts) {
    const list = byHost.get(v.host);
    if (list) list.push(v);
    else byHost.set(v.host, [v]);
  }
  for (const host of exact) {
    const forHost = byHost.get(host) ?? [];
    const bad = forHost.find((v) => v.verdict !== "pinned");
    if (forHost.length === 0) failing.push({ host, verdict: "not-seen" });
    else if (bad) failing.push({ host, verdict: bad.verdict });
  }
  if (options.covers) {
    const covered = [...byHost.keys()].filter((h) => !exact.includes(h) && options.covers!(h)).sort();
    for (const host of covered) {
      const bad = byHost.get(host)!.find((v) => v.verdict !== "pinned" && v.verdict !== "not-seen");
      if (bad) failing.push({ host, verdict: bad.verdict });
    }
  }
  const overLimit = (host: string, tunnels: number): ExpectationFailure => ({
    host,
    verdict: "over-limit",
    tunnels,
    explanation: `${tunnels} tunnel${tunnels === 1 ? "" : "s"} to ${host} ${tunnels === 1 ? "was" : "were"} not kept: the audit's record limit (${LIMITS.records} tunnels) was full, which any client of the proxy can fill, so ${host} is not proven pinned. Audit again with the proxy reachable by the app only (listen on 127.0.0.1 or a network of its own) and one app per session.`,
  });
  for (const [host, tunnels] of [...(options.dropped ?? new Map<string, number>())].sort(([a], [b]) =>
    a.localeCompare(b),
  ))
    failing.push(overLimit(host, tunnels));
  if ((options.droppedElsewhere ?? 0) > 0)
    failing.push(overLimit("(more hosts the expectation covers)", options.droppedElsewhere!));
  return { ok: failing.length === 0, failing };
}
