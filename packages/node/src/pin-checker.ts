import { isIP } from "node:net";
import { checkServerIdentity as checkHostname, type PeerCertificate, type SecureContext } from "node:tls";
import { domainToASCII } from "node:url";
import {
  BoundedCache,
  buildPinFailureReport,
  type ChainEntry,
  type DomainPolicy,
  evaluateChain,
  findDomainPolicy,
  KeypinError,
  normalizePolicy,
  type PinFailureReport,
  type PinVerdict,
  type Policy,
  type PolicyFile,
} from "@keypin/core";
import { describeThrown, PinCheckError, PinMismatchError, untrustedChainErrorOf } from "./errors.js";
import { isPeerChain, peerChainOf } from "./peer-chain.js";
import { loadPolicyFileSync } from "./policy-file.js";
import { ReportSender } from "./report-sender.js";
import { createTrustContext, resolveTrustAnchors, type TrustAnchors } from "./trust-anchors.js";
import { type HopCache, type PathSearch, searchVerifiedCertificates } from "./verified-path.js";

/**
 * Options shared by every pinned client.
 *
 * @example
 * const options: PinningOptions = {
 *   policy: "keypin.json",
 *   onReport: (report) => console.warn("pin failure", report.hostname),
 * };
 */
export interface PinningOptions {
  /** A keypin.json object, a normalized policy (from `parsePolicy`), or the path of a keypin.json. */
  policy: PolicyFile | Policy | string;
  /** Extra trust anchors (PEM), trusted on top of the bundled roots and NODE_EXTRA_CA_CERTS. */
  ca?: string | string[];
  /** Trust only `ca` (the bundled roots and NODE_EXTRA_CA_CERTS are not trusted). */
  caOnly?: boolean;
  /** An HTTP CONNECT proxy URL (undici dispatcher only). Pins apply to the origin, never to the proxy. */
  proxy?: string;
  /**
   * Extra options for the TLS connection, passed through (`lookup`, `timeout`, `servername`, `minVersion`,
   * client `cert`/`key`, undici connector options …). Options that would switch validation off or skip it
   * (`rejectUnauthorized: false`, `checkServerIdentity`, `secureContext`, `ca`, `session`) are refused.
   */
  connect?: Record<string, unknown>;
  /** Called (in the background) with every pin failure report, enforced or report-only, rate-limited like sending. */
  onReport?: (report: PinFailureReport) => void;
  /**
   * Called with keypin's verdict after each full handshake to a host the policy covers: `pinned` (which pin
   * matched where on the verified path), `mismatch` (enforced: the connection is refused; report-only: it goes
   * on) or `not-pinned` with reason `expired`. For logs and metrics; it cannot change the verdict. It runs inside
   * the handshake, so keep it quick; what it throws is turned into a warning. Hosts outside the policy, and
   * resumed TLS sessions (Node runs no check on them), give no verdict.
   */
  onVerdict?: (verdict: PinVerdict, connection: { port: number }) => void;
  /** Called with warnings (an expired pin set, a report that could not be sent). Default: `process.emitWarning`. */
  onWarning?: (message: string) => void;
  /** Report sending: `send: false` only hands reports to `onReport`; `now` is the clock of the 24-hour limit. */
  reporting?: { send?: boolean; now?: () => number };
}

const REFUSED_CONNECT_OPTIONS: Record<string, string> = {
  checkServerIdentity:
    "keypin runs Node's hostname check and then the pin check; a replacement could skip both",
  secureContext: "keypin builds the secure context from its trust anchors; give extra anchors in `ca`",
  ca: "give extra anchors in the top-level `ca` option (with `caOnly` to trust only them)",
  session:
    "a TLS session resumed from elsewhere skips Node's hostname check and the pin check (Node runs neither on a " +
    "resumed session); each pinned client resumes only sessions from its own checked handshakes",
};

/**
 * The checker's own policy. Whatever the caller passes is validated: an object shaped like a normalized Policy is
 * held to keypin.json's rules (an unknown `mode` is an error, a missing one enforces, pins are parsed), and the
 * checker keeps a frozen copy that later changes to the caller's object, or a polluted Object.prototype, cannot reach.
 */
function resolvePolicy(policy: PinningOptions["policy"]): Policy {
  return normalizePolicy(typeof policy === "string" ? loadPolicyFileSync(policy).policy : policy).policy;
}

function defaultWarning(message: string): void {
  process.emitWarning(message, { code: "KEYPIN_WARNING" });
}

/** `this` inside checkServerIdentity is the options object Node's tls.connect normalized. */
function portOf(options: unknown): number {
  const port = Number((options as { port?: unknown } | undefined)?.port);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : 443;
}

/**
 * A server name with non-ASCII characters in the xn-- form Node's URL parser gives it (the full UTS #46 mapping,
 * which core's portable mapping only approximates), so that it finds the policy of the name it stands for: Node's
 * wildcard hostname check accepts any first label.
 */
export function asciiHost(host: string): string {
  if (!/[^\u0000-\u007f]/.test(host)) return host;
  return domainToASCII(host) || host;
}

/** The host tls.connect was asked to connect to (a name or an address), when it is known. */
function hostOf(options: unknown): string | undefined {
  const host = (options as { host?: unknown } | undefined)?.host;
  return typeof host === "string" && host !== "" ? host : undefined;
}

/**
 * The host of the Host header in the options tls.connect was given, when a client passed its request's headers
 * along (an object in any letter case, or Node's flat [name, value, …] array), as Node's URL parser reads it.
 */
function hostHeaderOf(options: unknown): string | undefined {
  const headers = (options as { headers?: unknown } | undefined)?.headers;
  if (headers === null || typeof headers !== "object") return undefined;
  let value: unknown;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length && value === undefined; i += 2)
      if (typeof headers[i] === "string" && headers[i].toLowerCase() === "host") value = headers[i + 1];
  } else {
    for (const key of Object.keys(headers))
      if (key.toLowerCase() === "host") value = (headers as Record<string, unknown>)[key];
  }
  if (Array.isArray(value)) value = value[0];
  return hostOfAuthority(value);
}

/**
 * The host a Host header or an HTTP/2 `:authority` value names (`name`, `name:port`, `[v6]:port`), as Node's URL
 * parser reads it; undefined when it names none.
 */
export function hostOfAuthority(value: unknown): string | undefined {
  return readAuthority(value) ?? undefined;
}

/**
 * The host a Host header or `:authority` value names, as {@link hostOfAuthority}; undefined when the value is absent
 * or empty (it names no host), null when keypin cannot read a host from it: a port out of range, a space, a userinfo,
 * a path … A server may still read a pinned name from such a value (a virtual-host router splitting at the first
 * colon takes `api.example.com` from `api.example.com:99999`), so a pinned client refuses it rather than skip it.
 */
export function readAuthority(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") return null;
  // An IPv6 address with a zone (`[fe80::1%eth0]:443`, as Node writes a link-local URL's Host header): the URL
  // parser refuses zones, the address (with its zone, as the connection's host is spelled) is still read.
  const zoned = /^\[([0-9A-Fa-f:.]+)%(?:25)?([A-Za-z0-9._~-]+)\](?::(\d{1,5}))?$/.exec(value);
  if (zoned) {
    const [, address = "", zone = "", port] = zoned;
    return isIP(address) === 6 && (port === undefined || Number(port) < 65536) ? `${address}%${zone}` : null;
  }
  // The authority grammar (RFC 3986 reg-name, IP-literal, port), and non-ASCII letters for an IDN spelling.
  if (!/^[A-Za-z0-9.\-_~%!$&'()*+,;=:[\]\u0080-\uffff]+$/.test(value)) return null;
  try {
    const url = new URL(`https://${value}`);
    if (url.hostname === "" || url.username !== "" || url.password !== "" || url.pathname !== "/")
      return null;
    return url.hostname.replace(/^\[|\]$/g, "");
  } catch {
    return null;
  }
}

/**
 * What one pinned connection was checked for, kept with its socket (and with the TLS sessions it yields), so that a
 * request bound to it later (a keep-alive socket reused, a Host header set after the socket was made, an HTTP/2
 * stream with another `:authority`) is checked for the host it is addressed to, not only for the host the socket was
 * made for. A chain is kept only from a full handshake Node verified, so it is the one the pins are checked on.
 */
export class CheckedConnection {
  readonly port: number;
  /** The policies whose pins matched this connection's verified chain (or let it go on, report-only). */
  policies: Set<DomainPolicy> = new Set();
  /** The served chain: the peer certificate of the full handshake, or, resumed, the chain of the one it resumes. */
  chain: PeerCertificate | readonly Uint8Array[] | undefined;
  /** Host names requests were bound to before the handshake completed: checked when it does. */
  readonly pending = new Set<string>();

  constructor(port: number) {
    this.port = port;
  }
}

/** What one served chain (exact bytes) leads to under this checker's anchors: its verified path and pins. */
interface VerifiedChain {
  served: Uint8Array[];
  chain: ChainEntry[];
  search: PathSearch;
}

/**
 * The pin check shared by every client: one per dispatcher/agent/options object, holding the policy, the
 * anchors, the secure context (built once) and the report state.
 */
export class PinChecker {
  readonly policy: Policy;
  readonly trust: TrustAnchors;
  readonly secureContext: SecureContext;
  readonly connect: Record<string, unknown>;
  readonly hopCache: HopCache | undefined;
  readonly #warn: (message: string) => void;
  readonly #onVerdict: PinningOptions["onVerdict"];
  readonly #reports: ReportSender;
  readonly #warnedExpired = new Set<string>();
  /**
   * The last served chain checked for each host name (at most 64 names) and its verified path. A client usually
   * meets the same chain on every new connection to a host; comparing its bytes (a memcmp) is much cheaper than
   * rebuilding the path. The path depends only on the served bytes and this checker's anchors (both fixed), so
   * reusing it cannot change a verdict; the policy (pins, expiry, enforcement) is still evaluated on every call.
   */
  readonly #recent = new BoundedCache<VerifiedChain>(64, {
    // A forging peer can serve 100 KB chains for as many names as the client connects to: 4 MiB at most, weighed
    // like the parse caches (the served bytes and their readings, about 11 times the DER).
    maxBytes: 4 * 1024 * 1024,
    sizeOf: (chain, host) =>
      2 * host.length + chain.served.reduce((n, der) => n + 11 * der.byteLength + 4096, 0),
  });
  /**
   * findDomainPolicy's answer per host name (at most 256 names; null: no policy). The policy is a frozen copy, so the
   * answer for a name never changes; normalizing the name took 17-27 µs right after a handshake (target 9).
   */
  readonly #domainPolicies = new BoundedCache<DomainPolicy | null>(256);

  /**
   * The `checkServerIdentity` given to tls.connect: Node's own hostname check, then the pins of the TLS server name
   * and, when the host connected to is another name with its own policy, that host's pins too. Node calls it when a
   * full handshake has completed and OpenSSL accepted the chain, before the socket reaches the HTTP client; an
   * Error returned here destroys the socket before any application byte is written.
   */
  readonly checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined;

  constructor(options: PinningOptions, internal: { hopCache?: HopCache } = {}) {
    const warn = options.onWarning ?? defaultWarning;
    this.#warn = (message) => {
      try {
        warn(message);
      } catch {
        // a warning listener that throws must not end a handshake or the process
      }
    };
    this.#onVerdict = options.onVerdict;
    this.connect = { ...(options.connect ?? {}) };
    // Own properties only: a polluted Object.prototype is no option of the caller's (tlsOptions shadows it).
    if (Object.hasOwn(this.connect, "rejectUnauthorized") && this.connect["rejectUnauthorized"] === false) {
      throw new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        "`connect.rejectUnauthorized: false` would switch certificate validation off, and Node then ignores " +
          "the pin check too. Pinning adds to validation; to trust a private CA, give it in `ca`.",
      );
    }
    for (const [name, why] of Object.entries(REFUSED_CONNECT_OPTIONS)) {
      if (Object.hasOwn(this.connect, name) && this.connect[name] !== undefined) {
        throw new KeypinError("ERR_KEYPIN_OPTIONS", `\`connect.${name}\` is not accepted: ${why}.`);
      }
    }
    this.policy = resolvePolicy(options.policy);
    this.trust = resolveTrustAnchors({ ca: options.ca, caOnly: options.caOnly }, this.#warn);
    this.secureContext = createTrustContext(this.trust, this.connect);
    this.hopCache = internal.hopCache;
    this.#reports = new ReportSender({
      onReport: options.onReport,
      onWarning: this.#warn,
      send: options.reporting?.send,
      now: options.reporting?.now,
    });
    const checker = this;
    const check = function keypinCheck(
      this: unknown,
      hostname: string,
      cert: PeerCertificate,
      record?: CheckedConnection,
    ) {
      const hostnameError = checkHostname(hostname, cert);
      if (hostnameError) return hostnameError;
      const port = portOf(this);
      const serverName = asciiHost(hostname);
      const pinError = checker.checkPins(serverName, port, cert);
      if (pinError) return pinError;
      // `hostname` is the TLS server name. The host connected to (the URL's) can be another name, and so can the
      // request's Host header: undici and https.Agent derive the server name from a Host header when they connect
      // directly, but tunnelling agents (axios's, through HTTPS_PROXY) take it from the URL and keep the headers in
      // the options. The request still goes to each of those names, so their pins apply too; otherwise a forged
      // certificate for any unpinned name would carry a request meant for a pinned one (review: Host header through
      // a proxy).
      const checked = new Set([checker.domainPolicyOf(serverName)]);
      for (const raw of [hostOf(this), hostHeaderOf(this)]) {
        if (raw === undefined) continue;
        const name = asciiHost(raw);
        const policy = checker.domainPolicyOf(name);
        if (!policy || checked.has(policy)) continue;
        checked.add(policy);
        const error = checker.checkPins(name, port, cert);
        if (error) return error;
      }
      if (record) {
        for (const policy of checked) if (policy) record.policies.add(policy);
        record.chain = cert;
        // Requests bound to the socket while it was handshaking: their hosts' pins, on this same chain.
        for (const name of record.pending) {
          const error = checker.checkHostOn(record, name);
          if (error) return error;
        }
        record.pending.clear();
      }
      return undefined;
    };
    // Node does not catch what checkServerIdentity throws: the process would end. Whatever goes wrong inside the
    // check (a certificate keypin cannot read, a bug, a listener) fails this one connection instead.
    this.checkServerIdentity = function keypinCheckServerIdentity(this: unknown, hostname, cert) {
      try {
        return check.call(this, hostname, cert);
      } catch (error) {
        return new PinCheckError(hostname, error);
      }
    };
    this.#checkConnection = function keypinCheckConnection(this: unknown, hostname, cert, record) {
      try {
        return check.call(this, hostname, cert, record);
      } catch (error) {
        return new PinCheckError(hostname, error);
      }
    };
  }

  readonly #checkConnection: (
    this: unknown,
    hostname: string,
    cert: PeerCertificate,
    record: CheckedConnection,
  ) => Error | undefined;

  /**
   * A `checkServerIdentity` for one connection: this checker's, which also records in `record` what the chain was
   * checked for (and checks the hosts of requests bound to the socket before its handshake completed). Node accepts
   * it in place of {@link checkServerIdentity}; it runs the same checks.
   */
  checkServerIdentityFor(
    record: CheckedConnection,
  ): (hostname: string, cert: PeerCertificate) => Error | undefined {
    const checkConnection = this.#checkConnection;
    return function keypinCheckServerIdentity(this: unknown, hostname, cert) {
      return checkConnection.call(this, hostname, cert, record);
    };
  }

  /**
   * The check of a request bound to a checked connection, addressed to `host` (its Host header or `:authority`):
   * undefined when `host` has no policy or one the connection was checked for; before the handshake completed,
   * the host waits in `pending` for it; otherwise the host's pins on the connection's chain, as an Error when they
   * fail (PinMismatchError: the request must not be written).
   */
  checkHostOn(record: CheckedConnection, host: string): Error | undefined {
    try {
      const name = asciiHost(host);
      const policy = this.domainPolicyOf(name);
      if (!policy || record.policies.has(policy)) return undefined;
      if (record.chain === undefined) {
        record.pending.add(name);
        return undefined;
      }
      const error = this.checkPins(name, record.port, record.chain);
      if (!error) record.policies.add(policy);
      return error;
    } catch (error) {
      return new PinCheckError(host, error);
    }
  }

  /**
   * A connection that resumed a TLS session: it inherits what the session's full handshake was checked for and its
   * chain, and the hosts of requests bound to it meanwhile are checked on that chain (Node runs no check itself).
   */
  resumeOn(record: CheckedConnection, from: CheckedConnection): Error | undefined {
    if (from.chain === undefined)
      return new PinCheckError("a resumed TLS session", "it has no checked handshake");
    record.chain = from.chain;
    record.policies = from.policies;
    for (const name of record.pending) {
      const error = this.checkHostOn(record, name);
      if (error) return error;
    }
    record.pending.clear();
    return undefined;
  }

  /** The policies a connection made with these tls.connect options is checked for at its handshake. */
  policiesOfConnection(options: {
    host?: unknown;
    servername?: unknown;
    headers?: unknown;
  }): Set<DomainPolicy> {
    const out = new Set<DomainPolicy>();
    const servername =
      typeof options.servername === "string" && options.servername !== "" ? options.servername : undefined;
    for (const raw of [servername, hostOf(options), hostHeaderOf(options)]) {
      if (raw === undefined) continue;
      const policy = this.domainPolicyOf(asciiHost(raw));
      if (policy) out.add(policy);
    }
    return out;
  }

  /**
   * Options to spread into tls.connect (or an agent): validation on, the pin check, the shared secure context. Each
   * of the four is an own property, `session` too (undefined): Node and undici read an absent option through the
   * prototype chain, so a polluted `Object.prototype.session` would otherwise be resumed with no check at all.
   */
  tlsOptions(): Record<string, unknown> {
    return {
      ...this.connect,
      rejectUnauthorized: true,
      secureContext: this.secureContext,
      checkServerIdentity: this.checkServerIdentity,
      session: undefined,
    };
  }

  /** @internal For tests: what the last-chain-per-host cache holds, in entries and weighed bytes. */
  recentChainsHeld(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.#recent.size, bytes: this.#recent.bytes, maxBytes: this.#recent.maxBytes };
  }

  /** Gives `message` to `onWarning` (default: process.emitWarning); a listener that throws is ignored. */
  warn(message: string): void {
    this.#warn(message);
  }

  /** The policy that applies to `host` (findDomainPolicy), remembered per name. */
  domainPolicyOf(host: string): DomainPolicy | undefined {
    const known = this.#domainPolicies.get(host);
    if (known !== undefined) return known ?? undefined;
    const found = findDomainPolicy(this.policy, host);
    this.#domainPolicies.set(host, found ?? null);
    return found;
  }

  /** The pin verdict for a completed handshake, as an Error to fail it with, or undefined to let it go on. */
  checkPins(
    hostname: string,
    port: number,
    cert: PeerCertificate | readonly Uint8Array[],
  ): Error | undefined {
    const domainPolicy = this.domainPolicyOf(hostname);
    if (!domainPolicy) return undefined;
    const { served, chain, search } = this.#verifiedChainOf(hostname, cert);
    const verdict = evaluateChain({ policy: this.policy, host: hostname, chain });
    if (this.#onVerdict) this.#tellVerdict(verdict, port);
    switch (verdict.verdict) {
      case "pinned":
        return undefined;
      case "not-pinned":
        if (verdict.reason === "expired")
          this.#warnExpired(verdict.domain ?? domainPolicy.domain, domainPolicy.expires);
        return undefined;
      case "mismatch": {
        if (!search.found) {
          if (!verdict.enforced) {
            this.#warn(
              `keypin: no verified path for ${hostname}:${port}; report-only, so the connection goes on.`,
            );
            return undefined;
          }
          return untrustedChainErrorOf(search, { host: hostname, port, served, limits: this.trust.limits });
        }
        const report = buildPinFailureReport({
          verdict,
          domainPolicy,
          port,
          servedChain: served,
          validatedChain: search.path,
        });
        const wantsReport = domainPolicy.reportUris.length > 0 || this.#hasReportListener();
        if (wantsReport) this.#reports.submit(report, domainPolicy.reportUris);
        if (!verdict.enforced) return undefined;
        return new PinMismatchError({
          host: verdict.host,
          port,
          domain: verdict.domain,
          chainPins: verdict.chainPins,
          expectedPins: verdict.expectedPins,
        });
      }
      default: {
        const unreachable: never = verdict;
        return unreachable;
      }
    }
  }

  /** The verified path of `served` and the pins along it, reused when `hostname`'s last chain had the same bytes. */
  #verifiedChainOf(hostname: string, cert: PeerCertificate | readonly Uint8Array[]): VerifiedChain {
    const last = this.#recent.get(hostname);
    const given = Array.isArray(cert) ? (cert as readonly Uint8Array[]) : undefined;
    if (last && (given ? sameChain(given, last.served) : isPeerChain(cert as PeerCertificate, last.served)))
      return last;
    const served = given ? [...given] : peerChainOf(cert as PeerCertificate);
    // The path's certificates come back as the search read them: looking each one up again by its bytes cost a
    // key (a digest of the DER) and a cache lookup per certificate on every cold check.
    const { search, certificates } = searchVerifiedCertificates(
      served,
      this.trust.anchors,
      this.hopCache ? { hopCache: this.hopCache } : {},
    );
    const chain: ChainEntry[] = certificates.map(({ info, pin }) => ({ subject: info.subject, pin }));
    const verified = { served, chain, search };
    this.#recent.set(hostname, verified);
    return verified;
  }

  #tellVerdict(verdict: PinVerdict, port: number): void {
    try {
      // A frozen copy: the checker decides on its own object, so a listener that edits what it is given (a log
      // redactor, a metrics tagger) cannot turn a mismatch into a pass. Review: `v.verdict = "pinned"` did.
      this.#onVerdict?.(deepFrozenCopy(verdict), { port });
    } catch (error) {
      // The verdict stands either way; a throwing listener must not turn into a refused (or accepted) connection.
      this.#warn(`keypin: onVerdict threw (${describeThrown(error)}); the verdict stands.`);
    }
  }

  #hasReportListener(): boolean {
    return this.#reports.hasListener;
  }

  #warnExpired(domain: string, expires: string | undefined): void {
    if (this.#warnedExpired.has(domain)) return;
    this.#warnedExpired.add(domain);
    this.#warn(
      `keypin: the pins for ${domain} expired on ${expires}: connections to it are no longer pinned ` +
        "(only ordinary certificate validation applies). Update keypin.json with current pins and a new date.",
    );
  }
}

/** Whether two served chains are the same certificates, byte for byte, in the same order. */
function sameChain(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((der, i) => Buffer.compare(der, b[i] as Uint8Array) === 0);
}

/** A copy of plain data (a verdict) that nothing can change, nested arrays and objects included. */
function deepFrozenCopy<T>(value: T): T {
  const freeze = (v: unknown): unknown => {
    if (v && typeof v === "object") {
      for (const inner of Object.values(v)) freeze(inner);
      Object.freeze(v);
    }
    return v;
  };
  return freeze(structuredClone(value)) as T;
}
