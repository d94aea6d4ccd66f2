import { isIP, type Socket } from "node:net";
import {
  checkServerIdentity,
  connect as connectTls,
  createSecureContext,
  type DetailedPeerCertificate,
  type SecureContext,
} from "node:tls";
import { type CertificateInfo, KeypinError } from "@keypin/core";
import { describeCertificate } from "./parsed-certificate.js";
import { peerChainOf } from "./peer-chain.js";
import { openProxyTunnel } from "./proxy-tunnel.js";
import { createTrustContext, resolveTrustAnchors } from "./trust-anchors.js";
import { buildVerifiedPath } from "./verified-path.js";

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
  /** The certificates the server sent, leaf first, in order (Node shows those that link by issuer name). */
  served: CertificateInfo[];
  /** The signature-verified path leaf → anchor (the anchor may be a root the server did not send). */
  verified: CertificateInfo[] | undefined;
  /** True when OpenSSL accepted the chain, the hostname matches, and keypin verified a path. */
  trusted: boolean;
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
  /** Extra trust anchors (PEM), added to the bundled roots and NODE_EXTRA_CA_CERTS. */
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
  peer: DetailedPeerCertificate;
  chain: Uint8Array[];
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
  if (error instanceof KeypinError) return error;
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
      const tlsSocket = connectTls({
        ...(tunnel ? { socket: tunnel } : { host: options.connectHost, port: options.connectPort }),
        ...(options.servername ? { servername: options.servername } : {}),
        secureContext: options.secureContext,
        // Inspection only: the chain is reported, never trusted, and not a byte of application data is sent.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      socket = tlsSocket;
      tlsSocket.once("connect", () => {
        tcpConnected = true;
      });
      tlsSocket.once("secureConnect", () => {
        const peer = tlsSocket.getPeerCertificate(true);
        const authError = tlsSocket.authorized
          ? undefined
          : String(tlsSocket.authorizationError ?? "UNKNOWN");
        finish(undefined, {
          peer,
          chain: peerChainOf(peer),
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

const emptyStore = { context: undefined as SecureContext | undefined };

/**
 * Connects to a TLS server, collects the chain it serves and reports what a client would conclude: OpenSSL's
 * verdict, the hostname check, and the signature-verified path (built by keypin against the same anchors:
 * bundled roots + NODE_EXTRA_CA_CERTS + `ca`, or only `ca`). An untrusted chain is reported, not thrown.
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
  const warnings: string[] = [];
  const trust = resolveTrustAnchors({ ca: options.ca, caOnly: options.caOnly }, (m) => warnings.push(m));
  const secureContext = createTrustContext(trust);
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

  // Node appends the root it found in its own store to the peer's chain. When the chain ends in anchors, look
  // again with an empty store to learn which of them the server really sent.
  let served = first.chain;
  const last = first.chain[first.chain.length - 1];
  if (first.chain.length > 1 && last && trust.anchors.hasDer(last)) {
    emptyStore.context ??= createSecureContext({ ca: [] });
    const second = (await handshake({ ...base, secureContext: emptyStore.context })).chain;
    // A server (or an interceptor) may present another leaf on the second connection: then keep what the first
    // connection showed, so `served` and `verified` describe the same handshake.
    if (second[0] && first.chain[0] && Buffer.compare(second[0], first.chain[0]) === 0) served = second;
  }

  const verifiedDers = buildVerifiedPath([...first.chain, ...served.slice(1)], trust.anchors);
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
  if (hostError) inspection.hostnameError = hostError.message;
  if (first.protocol) inspection.protocol = first.protocol;
  return inspection;
}
