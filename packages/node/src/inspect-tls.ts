import { isIP, type Socket } from "node:net";
import {
  checkServerIdentity,
  connect as connectTls,
  type PeerCertificate,
  type SecureContext,
  type TLSSocket,
} from "node:tls";
import { BoundedCache, type CertificateInfo, isKeypinError, KeypinError } from "@keypin/core";
import { untrustedChainErrorOf } from "./errors.js";
import { describeCertificate } from "./parsed-certificate.js";
import { openProxyTunnel } from "./proxy-tunnel.js";
import { linkSentCertificates, readSentCertificates } from "./served-chain.js";
import {
  createTrustContext,
  defaultTrustVersion,
  resolveTrustAnchors,
  type TrustAnchors,
} from "./trust-anchors.js";
import { searchVerifiedPath } from "./verified-path.js";

/**
 * What `inspectTls` saw. Certificates are described by @keypin/core (SPKI from the DER).
 *
 * @example
 * const seen: TlsInspection = await inspectTls({ host: "example.com", port: 443 });
 * const pins = (seen.verified ?? []).map((c) => computePin(c.spki, sha256));
 */
export interface TlsInspection {
  host: string;
  port: number;
  /** The SNI sent (the host, unless it is an IP address or `servername` said otherwise); "" when none. */
  servername: string;
  /**
   * The certificates the server sent, leaf first, in order: those that link by issuer name from the leaf, as Node's
   * `getPeerCertificate(true)` links them (without the root Node adds from its own store).
   */
  served: CertificateInfo[];
  /** The signature-verified path leaf → anchor (the anchor may be a root the server did not send). */
  verified: CertificateInfo[] | undefined;
  /** True when OpenSSL accepted the chain, the hostname matches, and keypin verified a path. */
  trusted: boolean;
  /**
   * Why keypin found no path although OpenSSL accepted the chain, for the server's operator: a served certificate
   * that hides the valid path (Node links served certificates by the first name match), a leaf keypin refuses, or
   * anchors that differ. Absent when there is a path or when OpenSSL refused the chain too.
   */
  pathProblem?: string;
  /** OpenSSL's reason for rejecting the chain (e.g. "SELF_SIGNED_CERT_IN_CHAIN", "CERT_HAS_EXPIRED"). */
  authorizationError?: string;
  /** Why the leaf does not match the host name, when it does not. */
  hostnameError?: string;
  /** The negotiated protocol, e.g. "TLSv1.3". */
  protocol?: string;
}

/**
 * Options of {@link inspectTls}.
 *
 * @example
 * const options: InspectTlsOptions = { host: "api.example.com", port: 443, proxy: "http://127.0.0.1:8080", timeout: 5000 };
 */
export interface InspectTlsOptions {
  host: string;
  port: number;
  /** SNI and the name the certificate must match; default `host` (none for an IP address). */
  servername?: string;
  /** Extra trust anchors (PEM), added to Node's default trust (bundled roots + NODE_EXTRA_CA_CERTS, or the store its flags select). */
  ca?: string[];
  /** Trust only `ca`. */
  caOnly?: boolean;
  /** HTTP CONNECT proxy URL, e.g. "http://127.0.0.1:8080". */
  proxy?: string;
  /** Milliseconds for the whole inspection; default 10000. */
  timeout?: number;
  /** Connect to this address instead of `host` (SNI and name checks still use `host`). */
  connectHost?: string;
  /** Connect to this port instead of `port`. */
  connectPort?: number;
}

interface Handshake {
  /** The leaf as Node describes it (subject, subjectaltname): what `checkServerIdentity` reads. */
  peer: PeerCertificate;
  /** Every certificate the server sent, in the order it sent them. */
  sent: Uint8Array[];
  authorizationError: string | undefined;
  protocol: string | null;
}

const NOT_TLS_CODES = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_UNKNOWN_PROTOCOL",
  "ERR_SSL_RECORD_LAYER_FAILURE",
  "ERR_SSL_HTTP_REQUEST",
]);

function classify(error: Error & { code?: string }, target: string, tcpConnected: boolean): KeypinError {
  if (isKeypinError(error)) return error;
  const code = error.code ?? "";
  if (!tcpConnected) {
    return new KeypinError(
      "ERR_KEYPIN_CONNECT",
      `Cannot connect to ${target}: ${error.message}. Check the host name, the port and that the server is running.`,
      { cause: error },
    );
  }
  if (NOT_TLS_CODES.has(code) || code === "ECONNRESET" || code === "EPIPE") {
    return new KeypinError(
      "ERR_KEYPIN_NOT_TLS",
      `${target} accepted the connection but did not complete a TLS handshake (${code || error.message}): ` +
        "is it a TLS port? Plain HTTP servers usually listen on 80 or 8080.",
      { cause: error },
    );
  }
  return new KeypinError(
    "ERR_KEYPIN_HANDSHAKE",
    `The TLS handshake with ${target} failed: ${error.message}.`,
    {
      cause: error,
    },
  );
}

/**
 * Makes this socket's `getPeerCertificate` describe the leaf alone, even when asked for the chain. Node asks for the
 * chain (a JavaScript object per certificate, plus a look-up of the root in its store: about half a millisecond)
 * once per accepted handshake, only to pass it to `checkServerIdentity`, which reads the leaf's subject and
 * subjectaltname. The chain itself is read from OpenSSL's copy (`readSentCertificates`). Only for sockets that
 * `inspectTls` opens, reads and destroys.
 */
function describeLeafOnly(socket: TLSSocket): void {
  const describe = socket.getPeerCertificate;
  socket.getPeerCertificate = function getPeerLeaf(this: TLSSocket): PeerCertificate {
    return describe.call(this, false);
  } as TLSSocket["getPeerCertificate"];
}

function handshake(options: {
  host: string;
  port: number;
  connectHost: string;
  connectPort: number;
  servername: string | undefined;
  proxy: string | undefined;
  secureContext: SecureContext;
  deadline: number;
  timeout: number;
}): Promise<Handshake> {
  const target = `${options.host}:${options.port}`;
  return new Promise<Handshake>((resolve, reject) => {
    let socket: Socket | undefined;
    let tcpConnected = false;
    let settled = false;
    const finish = (error: KeypinError | undefined, value?: Handshake): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new KeypinError(
            "ERR_KEYPIN_TIMEOUT",
            `No TLS handshake with ${target} within ${options.timeout} ms: ` +
              "the host may be unreachable or filtered; try a longer timeout.",
          ),
        ),
      Math.max(0, options.deadline - Date.now()),
    );
    const startTls = (tunnel: Socket | undefined): void => {
      if (settled) {
        tunnel?.destroy();
        return;
      }
      if (tunnel) tcpConnected = true;
      // When OpenSSL accepted the chain, Node describes the leaf for checkServerIdentity: keep that description.
      let described: PeerCertificate | undefined;
      const tlsSocket = connectTls({
        ...(tunnel ? { socket: tunnel } : { host: options.connectHost, port: options.connectPort }),
        ...(options.servername ? { servername: options.servername } : {}),
        secureContext: options.secureContext,
        // Inspection only: the chain is reported, never trusted, and not a byte of application data is sent.
        // The hostname is checked below, against the same certificate.
        rejectUnauthorized: false,
        checkServerIdentity: (_host: string, cert: PeerCertificate) => {
          described = cert;
          return undefined;
        },
      });
      socket = tlsSocket;
      describeLeafOnly(tlsSocket);
      tlsSocket.once("connect", () => {
        tcpConnected = true;
      });
      tlsSocket.once("secureConnect", () => {
        const peer = described ?? tlsSocket.getPeerCertificate(false);
        const authError = tlsSocket.authorized
          ? undefined
          : String(tlsSocket.authorizationError ?? "UNKNOWN");
        finish(undefined, {
          peer,
          // Last: in Node 20 this empties the socket's peer chain (the socket is destroyed right after).
          sent: readSentCertificates(tlsSocket),
          authorizationError: authError,
          protocol: tlsSocket.getProtocol(),
        });
      });
      tlsSocket.once("error", (error) => finish(classify(error, target, tcpConnected)));
      tlsSocket.once("close", () =>
        finish(
          new KeypinError(
            "ERR_KEYPIN_NOT_TLS",
            `${target} closed the connection during the TLS handshake: is it a TLS port?`,
          ),
        ),
      );
    };
    if (options.proxy) {
      openProxyTunnel(options.proxy, options.connectHost, options.connectPort).then(startTls, (error) =>
        finish(classify(error, target, false)),
      );
    } else {
      startTls(undefined);
    }
  });
}

/** The most bytes the trust setups below may hold, as they are weighed. */
export const TRUST_SETUP_CACHE_BYTES = 8 * 1024 * 1024;

/** What a trust configuration resolves to: the anchors for keypin's path and a secure context trusting them. */
interface TrustSetup {
  trust: TrustAnchors;
  secureContext: SecureContext;
  /** Node's default trust when this was built (see `defaultTrustVersion`). */
  version: object;
}

/**
 * Trust setups already built in this process, keyed by everything they depend on: `caOnly`, the `ca` texts and
 * Node's default trust (its version object). Building one costs milliseconds (the
 * anchors are parsed, and adding `ca` to Node's store copies the ~140 bundled roots): `keypin check` over 200
 * hosts with one `--ca` builds it once. A secure context holds no sessions here (Node's client never resumes
 * one without an explicit `session`), so sharing it between inspections shares trust, not state.
 */
const trustSetups = new BoundedCache<TrustSetup>(16, {
  maxBytes: TRUST_SETUP_CACHE_BYTES,
  sizeOf: (_setup, key) => trustSetupBytes(key),
});

/**
 * Bounded in bytes too (review F2): a setup's weight grows with its `ca` texts (the key is their JSON), which are
 * parsed into anchors (weighed at 12 bytes per byte of PEM: its DER read by core, and the key copy) + 64 KiB for the
 * secure context. The anchors of Node's default store are shared between setups (trust-anchors.ts weighs them).
 */
function trustSetupBytes(key: string): number {
  return 14 * key.length + 64 * 1024;
}

/** @internal For keypin's own tests only: the trust setups' entries, weighed bytes and budget. */
export function trustSetupCacheStats(): { size: number; bytes: number; maxBytes: number } {
  return { size: trustSetups.size, bytes: trustSetups.bytes, maxBytes: trustSetups.maxBytes };
}

function trustSetupFor(options: { ca?: string[] | undefined; caOnly?: boolean | undefined }): TrustSetup {
  const key = JSON.stringify([options.caOnly === true, options.ca ?? []]);
  const version = defaultTrustVersion();
  const cached = trustSetups.get(key);
  if (cached && cached.version === version) return cached;
  // The warnings (an unreadable NODE_EXTRA_CA_CERTS, which Node itself reports at start-up, and the anchors keypin
  // cannot know) are not repeated here: an inspection reports the chain, trusted or not.
  const trust = resolveTrustAnchors({ ca: options.ca, caOnly: options.caOnly }, () => {});
  const setup = { trust, secureContext: createTrustContext(trust), version };
  trustSetups.set(key, setup);
  return setup;
}

/**
 * Connects to a TLS server, collects the chain it serves and reports what a client would conclude: OpenSSL's
 * verdict, the hostname check, and the signature-verified path (built by keypin against the same anchors as the
 * connection: Node's default trust + `ca`, or only `ca`; see the README, "What keypin checks"). An untrusted chain is reported, not thrown.
 * No application data is sent. Throws KeypinError `ERR_KEYPIN_CONNECT` (refused, unknown host),
 * `ERR_KEYPIN_TIMEOUT`, `ERR_KEYPIN_NOT_TLS` (the port does not speak TLS), `ERR_KEYPIN_PROXY` (the proxy failed)
 * or `ERR_KEYPIN_HANDSHAKE` (a TLS server refused the handshake).
 *
 * @example
 * import { inspectTls } from "@keypin/node";
 * const seen = await inspectTls({ host: "example.com", port: 443 });
 * for (const cert of seen.verified ?? []) console.log(cert.subject, cert.keyType);
 * if (!seen.trusted) console.log(seen.authorizationError ?? seen.hostnameError);
 */
export async function inspectTls(options: InspectTlsOptions): Promise<TlsInspection> {
  const { trust, secureContext } = trustSetupFor(options);
  const servername = options.servername ?? (isIP(options.host) ? undefined : options.host);
  const timeout = options.timeout ?? 10_000;
  const deadline = Date.now() + timeout;
  const base = {
    host: options.host,
    port: options.port,
    connectHost: options.connectHost ?? options.host,
    connectPort: options.connectPort ?? options.port,
    servername,
    proxy: options.proxy,
    deadline,
    timeout,
  };
  const first = await handshake({ ...base, secureContext });

  // One handshake tells both what the server sent (OpenSSL's copy of the peer chain, without the root Node adds
  // from its store) and what OpenSSL concluded. `served` keeps Node's linked order; the path is built from it.
  const served = linkSentCertificates(first.sent);
  const search = searchVerifiedPath(served, trust.anchors);
  const verifiedDers = search.found ? search.path : undefined;
  const hostError = checkServerIdentity(servername ?? options.host, first.peer);
  const describe = (der: Uint8Array): CertificateInfo => describeCertificate(der).info;
  const inspection: TlsInspection = {
    host: options.host,
    port: options.port,
    servername: servername ?? "",
    served: served.map(describe),
    verified: verifiedDers?.map(describe),
    trusted: first.authorizationError === undefined && hostError === undefined && verifiedDers !== undefined,
  };
  if (first.authorizationError !== undefined) inspection.authorizationError = first.authorizationError;
  else if (!search.found)
    inspection.pathProblem = untrustedChainErrorOf(search, {
      host: options.host,
      port: options.port,
      served,
    }).message;
  if (hostError) inspection.hostnameError = hostError.message;
  if (first.protocol) inspection.protocol = first.protocol;
  return inspection;
}
