// startAudit: the audit CA, the intercepting proxy and the verdict engine put together.
import { createHash, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect as connectTls, type PeerCertificate } from "node:tls";
import { type InterceptEvent, InterceptingProxy } from "@keypin/proxy";
import type { AuditCa } from "./ca-store.js";
import { canonicalHost } from "./host.js";
import type { AuditReport, UpstreamPins } from "./report.js";
import { AuditLog, expectationOf, type TunnelRecord, type Verdict, verdictsOf } from "./verdicts.js";

export interface AuditOptions {
  ca: AuditCa;
  host?: string;
  port?: number;
  /** Only these hosts are intercepted and judged; others are still forged but left out of the verdicts. */
  hosts?: string[];
  /** Hosts that must be pinned (a policy's, or --expect-pinned): each one seen, and pinned for every client. */
  expectPinned?: string[];
  /**
   * Hosts beyond `expectPinned` that must be pinned for every client that reached them, but need not be seen: a
   * policy's subdomains under includeSubdomains (the CLI passes @keypin/core's findDomainPolicy). Called with
   * canonical hosts ({@link canonicalHost}).
   */
  expectCovers?: (host: string) => boolean;
  showSecrets?: boolean;
  /** Trust anchors for the real servers (tests); default Node's. */
  upstreamCa?: string[];
  /** Where to dial for a host (tests); default the host itself. */
  upstreamAddress?: (host: string, port: number) => { host: string; port: number };
  /**
   * Called when tunnels close, with the verdicts so far and the last tunnel closed (the live table): at once for
   * the first close, then at most four times a second, and less often when computing the verdicts would take
   * over a tenth of the time (the closes in between are folded into the next call). Verdicts are computed over
   * the whole session, so one call per close would make a busy audit quadratic.
   */
  onUpdate?: (verdicts: Verdict[], record: TunnelRecord) => void;
}

export interface RunningAudit {
  proxy: InterceptingProxy;
  log: AuditLog;
  verdicts(): Verdict[];
  /** Ends the audit: waits for open tunnels (up to 2 s), reads the real chains, closes, and returns the report. */
  finish(): Promise<AuditReport>;
}

const sha = (der: Buffer): string => `sha256/${createHash("sha256").update(der).digest("base64")}`;

function spkiOf(cert: PeerCertificate): Buffer | undefined {
  const raw = (cert as PeerCertificate & { raw?: Buffer }).raw;
  if (!raw) return undefined;
  return new X509Certificate(raw).publicKey.export({ type: "spki", format: "der" }) as Buffer;
}

/** The pins of the real chain of host:port, from a verified handshake with the real server. */
export function upstreamPinsOf(
  host: string,
  port: number,
  options: Pick<AuditOptions, "upstreamCa" | "upstreamAddress">,
): Promise<UpstreamPins> {
  const target = options.upstreamAddress?.(host, port) ?? { host, port };
  return new Promise((resolve) => {
    const socket = connectTls({
      host: target.host,
      port: target.port,
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      ...(options.upstreamCa ? { ca: options.upstreamCa } : {}),
    });
    // One deadline for the whole dial and handshake (an idle timeout would let a server that trickles bytes
    // hold it): the real server has UPSTREAM_TIMEOUT_MS to complete its handshake.
    const timer = setTimeout(() => socket.destroy(new Error("timed out")), UPSTREAM_TIMEOUT_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    socket.on("secureConnect", () => {
      const pins: UpstreamPins["pins"] = [];
      let cert: PeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert && Object.keys(cert).length > 0) {
        const spki = spkiOf(cert);
        const fp = cert.fingerprint256;
        if (!spki || seen.has(fp)) break;
        seen.add(fp);
        pins.push({ subject: String(cert.subject?.CN ?? ""), pin: sha(spki) });
        cert = (cert as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
      }
      socket.destroy();
      resolve({ host, port, pins });
    });
    socket.on("error", (error: Error & { code?: string }) =>
      resolve({ host, port, pins: [], error: error.code ?? error.message }),
    );
  });
}

/** How long a real server has to complete its handshake when finish() reads its chain. */
const UPSTREAM_TIMEOUT_MS = 5000;

/**
 * How finish() reads the real chains: at most this many dials at once, of the first `hosts` intercepted hosts
 * (expected ones first), and no new dial once `budgetMs` have passed. The names and ports are what clients asked
 * for, so a peer that made 2,000 names count would otherwise have finish() dial all 2,000 at once (measured: about
 * 6,000 file descriptors at the peak). The rest are listed with `skipped: true` and what to do.
 */
export const UPSTREAM_LOOKUPS = { concurrency: 8, hosts: 256, budgetMs: 15_000 } as const;

/** upstreamPinsOf for each target, within UPSTREAM_LOOKUPS; the result is in the order of `targets`. */
async function lookUpAll(
  targets: { host: string; port: number }[],
  options: Pick<AuditOptions, "upstreamCa" | "upstreamAddress">,
): Promise<UpstreamPins[]> {
  const results: UpstreamPins[] = new Array(targets.length);
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const i = next++;
      const { host, port } = targets[i]!;
      if (i >= UPSTREAM_LOOKUPS.hosts || performance.now() - started > UPSTREAM_LOOKUPS.budgetMs) {
        results[i] = {
          host,
          port,
          pins: [],
          skipped: true,
          error: `not looked up: the audit reads at most ${UPSTREAM_LOOKUPS.hosts} real chains, within ${UPSTREAM_LOOKUPS.budgetMs / 1000} s (run keypin inspect ${host}:${port} for its pins)`,
        };
        continue;
      }
      results[i] = await upstreamPinsOf(host, port, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPSTREAM_LOOKUPS.concurrency, targets.length) }, worker));
  return results;
}

/** The shortest time between two onUpdate calls. */
const UPDATE_INTERVAL_MS = 250;

/** The reserved name of the onboarding page, reached through the proxy: http://keypin.audit/ */
export const ONBOARDING_HOST = "keypin.audit";

/**
 * Starts an audit: the proxy listens, every tunnel is recorded, and `finish()` gives the report.
 *
 * @example
 * const audit = await startAudit({ ca: await loadOrCreateAuditCa({ dir }) });
 * // point the app at audit.proxy.url, exercise it, then:
 * const report = await audit.finish();
 */
export async function startAudit(options: AuditOptions): Promise<RunningAudit> {
  const startedAt = new Date();
  const hosts = options.hosts?.map(canonicalHost);
  const judged = (r: { host: string }): boolean => !hosts || hosts.includes(r.host);
  const expected = (options.expectPinned ?? []).map(canonicalHost);
  const covers = options.expectCovers;
  // The hosts whose verdicts decide the expectation: what their tunnels sent is kept past the limits.
  const decides = (host: string): boolean =>
    judged({ host }) && (expected.includes(host) || covers?.(host) === true);
  const log = new AuditLog({ showSecrets: options.showSecrets ?? false, expected: decides });
  const verdicts = (): Verdict[] =>
    verdictsOf([...log.tunnels.values()].filter(judged), expected, log.folded, options.ca.nameConstraints);
  // onUpdate, throttled: the last closed record waits for the next slot.
  let lastUpdate = Number.NEGATIVE_INFINITY;
  let updateCost = 0;
  let pendingRecord: TunnelRecord | undefined;
  let updateTimer: NodeJS.Timeout | undefined;
  const update = (): void => {
    updateTimer = undefined;
    const record = pendingRecord;
    pendingRecord = undefined;
    if (!record || !options.onUpdate) return;
    lastUpdate = performance.now();
    const current = verdicts();
    updateCost = performance.now() - lastUpdate;
    options.onUpdate(current, record);
  };
  const closed = (record: TunnelRecord): void => {
    if (!options.onUpdate) return;
    pendingRecord = record;
    if (updateTimer) return;
    // At most four times a second, and never more than a tenth of the time (a long session's verdicts cost more).
    const wait = lastUpdate + Math.max(UPDATE_INTERVAL_MS, 10 * updateCost) - performance.now();
    if (wait <= 0) {
      update();
      return;
    }
    updateTimer = setTimeout(update, wait);
    updateTimer.unref();
  };
  const proxy = await InterceptingProxy.start({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    forge: (host) => options.ca.forge(host),
    // Every tunnel a full handshake (the proxy's default, said here because the verdicts rely on it): each one is
    // evidence of how the client treats the forged chain, which a resumed session would skip.
    clientSessionResumption: false,
    upstream: {
      ...(options.upstreamCa ? { ca: options.upstreamCa } : {}),
      ...(options.upstreamAddress ? { address: options.upstreamAddress } : {}),
    },
    onEvent: (event: InterceptEvent) => {
      const record = log.record(event);
      if (event.kind === "closed" && record && judged(record)) closed(record);
    },
    httpRequest: (req: IncomingMessage, res: ServerResponse) => onboarding(req, res, options.ca),
  });
  return {
    proxy,
    log,
    verdicts,
    async finish(): Promise<AuditReport> {
      await proxy.idle({ timeoutMs: 2000 });
      clearTimeout(updateTimer);
      update();
      const final = verdicts();
      const intercepted = [
        ...new Set(final.filter((v) => v.verdict === "intercepted").map((v) => v.host)),
      ].sort();
      const ports = new Map<string, number>();
      for (const r of log.tunnels.values())
        if (intercepted.includes(r.host) && !ports.has(r.host)) ports.set(r.host, r.port);
      // Expected hosts first, then the others in the order they were first seen: a peer that makes many names
      // count (any client can send application data over the forged leaf) cannot push the audited app's out.
      const firstSeen = new Map<string, number>();
      for (const r of log.tunnels.values())
        if (!firstSeen.has(r.host) || r.tunnel < firstSeen.get(r.host)!) firstSeen.set(r.host, r.tunnel);
      const order = [...intercepted].sort(
        (a, b) =>
          Number(!expected.includes(a)) - Number(!expected.includes(b)) ||
          (firstSeen.get(a) ?? 0) - (firstSeen.get(b) ?? 0),
      );
      const upstreamPins = await lookUpAll(
        order.map((h) => ({ host: h, port: ports.get(h) ?? 443 })),
        options,
      );
      upstreamPins.sort((a, b) => a.host.localeCompare(b.host));
      await proxy.close();
      const report: AuditReport = {
        tool: "keypin audit",
        test: "MASTG-TEST-0244",
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        ca: {
          certPath: options.ca.certPath,
          pin: options.ca.pin,
          notAfter: options.ca.notAfter.toISOString(),
          nameConstraints: options.ca.nameConstraints,
        },
        interceptedDomains: intercepted,
        verdicts: final,
        upstreamPins,
        kept: {
          tunnelsFolded: [...log.folded.values()].reduce((n, f) => n + f.tunnels, 0),
          tunnelsUnjudged: log.dropped.unjudged,
          tunnelsOverLimit: log.dropped.overLimit,
          tunnelsOverLimitExpected: log.dropped.overLimitExpected,
          requestEvidenceOverBudget: log.dropped.requestEvidence,
        },
      };
      if (expected.length > 0 || covers) {
        const listed = [...log.droppedExpected.values()].reduce((n, t) => n + t, 0);
        report.expectation = {
          hosts: expected,
          ...expectationOf(final, expected, {
            ...(covers ? { covers } : {}),
            dropped: log.droppedExpected,
            droppedElsewhere: log.dropped.overLimitExpected - listed,
          }),
        };
      }
      return report;
    },
  };
}

/** The onboarding page (plain HTTP through the proxy, on a reserved name): the CA as PEM and DER, and the steps. */
function onboarding(req: IncomingMessage, res: ServerResponse, ca: AuditCa): void {
  let url: URL | undefined;
  try {
    url = new URL(req.url ?? "", `http://${req.headers.host ?? ""}`);
  } catch {
    url = undefined;
  }
  if (!url || url.hostname !== ONBOARDING_HOST) {
    res.writeHead(405, { "content-type": "text/plain" });
    res.end(
      `This audit proxy tunnels HTTPS (HTTP CONNECT); its CA is at http://${ONBOARDING_HOST}/ through the proxy.\n`,
    );
    return;
  }
  if (url.pathname === "/keypin-audit-ca.pem") {
    res.writeHead(200, {
      "content-type": "application/x-pem-file",
      "content-disposition": 'attachment; filename="keypin-audit-ca.pem"',
    });
    res.end(ca.certPem);
  } else if (url.pathname === "/keypin-audit-ca.crt" || url.pathname === "/keypin-audit-ca.der") {
    res.writeHead(200, {
      "content-type": "application/x-x509-ca-cert",
      "content-disposition": 'attachment; filename="keypin-audit-ca.crt"',
    });
    res.end(ca.certDer);
  } else if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(onboardingHtml(ca));
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Not found: try / , /keypin-audit-ca.pem or /keypin-audit-ca.crt\n");
  }
}

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

function onboardingHtml(ca: AuditCa): string {
  const steps = installSteps(ca.certPath)
    .map(
      (s) =>
        `<h2>${escapeHtml(s.platform)}</h2><ol>${s.steps.map((x) => `<li>${escapeHtml(x)}</li>`).join("")}</ol>`,
    )
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>keypin audit CA</title></head><body>
<h1>keypin audit CA</h1>
<p>Public-key pin ${escapeHtml(ca.pin)}, valid until ${ca.notAfter.toISOString()}${ca.nameConstraints.length > 0 ? `, limited to ${escapeHtml(ca.nameConstraints.join(", "))}` : ""}.</p>
<p><a href="/keypin-audit-ca.pem">PEM</a> · <a href="/keypin-audit-ca.crt">DER (.crt, for Android and iOS)</a></p>
${steps}
<p>Remove the CA when the audit is done.</p></body></html>\n`;
}

/** Per platform, how to install the audit CA so that an app's pinning can be audited. */
export function installSteps(certPath: string): { platform: string; steps: string[] }[] {
  return [
    {
      platform: "Android emulator",
      steps: [
        "adb reverse tcp:8080 tcp:<port> (or use the emulator's host alias 10.0.2.2) and set the emulator's proxy to it.",
        `adb push ${certPath} /sdcard/Download/ then Settings > Security > Encryption & credentials > Install a certificate > CA certificate.`,
        "Apps targeting API 24+ ignore user CAs: audit a debug build whose network security config trusts the audit CA without overriding pins: keypin export --format android-nsc --audit-ca " +
          certPath +
          ' (a debug-overrides with overridePins="false").',
      ],
    },
    {
      platform: "Android device",
      steps: [
        "Same Wi-Fi: keypin audit --listen 0.0.0.0:8080, then Wi-Fi > your network > Proxy > Manual: this machine's LAN address, port 8080.",
        "Open http://keypin.audit/ in the browser, download the DER certificate, and install it as a CA certificate (Settings > Security).",
        "As on the emulator, API 24+ apps need a debug build with keypin export --format android-nsc --audit-ca FILE.",
      ],
    },
    {
      platform: "iOS simulator",
      steps: [
        `xcrun simctl keychain booted add-root-cert ${certPath}`,
        "Set the Mac's HTTP and HTTPS proxy to this proxy (the simulator uses the Mac's network settings).",
      ],
    },
    {
      platform: "iOS device",
      steps: [
        "Wi-Fi > your network > Configure Proxy > Manual: this machine's LAN address and port.",
        "Open http://keypin.audit/ in Safari, download the profile, install it in Settings > General > VPN & Device Management.",
        "Settings > General > About > Certificate Trust Settings: enable full trust for the keypin audit CA.",
      ],
    },
  ];
}
