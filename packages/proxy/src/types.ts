import type { IncomingMessage, ServerResponse } from "node:http";
import type { ConnectionOptions } from "node:tls";
import type { HttpMessage, HttpReaderLimits } from "./http-reader.js";

/**
 * What a `forge` function returns: the forged leaf's private key and certificate, both PEM. Anything else
 * the object carries (a subject, a pin) comes back untouched in the `forge` event.
 *
 * @example
 * const forged: ForgedCertificate = { key: leaf.keyPem, cert: leaf.pem };
 */
export interface ForgedCertificate {
  /** PEM private key of the forged leaf (PKCS#8, SEC1 or PKCS#1). */
  key: string;
  /** PEM of the forged leaf, optionally followed by the chain to serve after it. */
  cert: string;
}

/**
 * How the proxy reaches the real server once a client has sent it application data.
 *
 * @example
 * const upstream: UpstreamOptions = { ca: [publicRoot.pem], lookup: labLookup };
 */
export interface UpstreamOptions {
  /** Trust anchors (PEM) for the real server's chain; default Node's bundled CAs. */
  ca?: string | string[];
  /** Name resolution for the real server (Node's `lookup` signature); default the system's. */
  lookup?: ConnectionOptions["lookup"];
  /** Where to dial for a CONNECT target; default the target itself. */
  address?: (host: string, port: number) => { host: string; port: number };
  /**
   * Whether the real server's certificate must verify against `ca` (default `true`).
   * **Dangerous:** `false` relays the client's decrypted traffic to whatever answers, genuine or not.
   * Only for tests whose real server is not the point.
   */
  rejectUnauthorized?: boolean;
}

/**
 * Options of {@link InterceptingProxy.start}.
 *
 * @example
 * const options: InterceptingProxyOptions = { forge: (host) => forgeLeaf(ca, host), upstream: { ca: [root.pem] } };
 */
export interface InterceptingProxyOptions<Leaf extends ForgedCertificate = ForgedCertificate> {
  /**
   * Forges the certificate presented for `host` (the CONNECT host, or the client's SNI name when it differs).
   * Called once per host: the result is cached for later tunnels (a rejection is not cached), for the
   * `forgeCacheSize` hosts used last.
   */
  forge: (host: string) => Leaf | Promise<Leaf>;
  /** How to reach the real server. */
  upstream?: UpstreamOptions;
  /** The address to listen on; default `127.0.0.1`. */
  host?: string;
  /** The port to listen on; default 0 (one the system picks). */
  port?: number;
  /**
   * Answers plain HTTP requests sent to the proxy (not tunnelled), e.g. an onboarding page on a reserved name;
   * default: 405 with a line saying the proxy only tunnels HTTPS.
   */
  httpRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Whether a client may resume, on a later tunnel, a TLS session it made with the proxy (session tickets);
   * default `false`: the proxy issues no tickets and keeps no sessions, so every tunnel is a full handshake in
   * which the client judges the forged chain again (and the proxy does no ticket work).
   */
  clientSessionResumption?: boolean;
  /**
   * How long a client has, from its CONNECT, to complete the TLS handshake with the proxy before the tunnel is
   * dropped (ms; default 30,000): a client that opens tunnels and never speaks cannot hold them (and their file
   * descriptors) open. A handshaken tunnel is then subject to `idleTimeoutMs` only.
   */
  handshakeTimeoutMs?: number;
  /**
   * How long a handshaken tunnel may go without a byte in either direction (client to proxy, real server to
   * proxy) before it is dropped (ms; default 600,000: an app's quiet WebSocket or long poll survives): a client that goes quiet, or a real server that never
   * answers, cannot hold the tunnel (and its two file descriptors) for good. A transfer that keeps moving is never
   * cut, however long it lasts.
   */
  idleTimeoutMs?: number;
  /**
   * How long the real server has to accept the TCP connection and complete its TLS handshake (ms; default
   * 10,000); past that the tunnel fails at stage `upstream` with reason `ETIMEDOUT` and is dropped.
   */
  upstreamConnectTimeoutMs?: number;
  /**
   * How many tunnels may be open at once (default 1,024); a CONNECT beyond that is answered
   * `503 Service Unavailable` and closed, before any event ({@link InterceptingProxy.refusedTunnels} counts them).
   */
  maxTunnels?: number;
  /**
   * How many of those one client address may hold (default 256), answered 503 the same way beyond it: one peer
   * filling the proxy does not lock out the other devices (clients sharing an address share its allowance).
   */
  maxTunnelsPerClient?: number;
  /**
   * How many client connections the proxy holds at once, tunnels and plain HTTP alike (default `maxTunnels` + 64):
   * past that a new connection is closed as soon as it is accepted (Node's `server.maxConnections`).
   */
  maxConnections?: number;
  /**
   * How long a client has, from its connection, to send the whole head of its request (the CONNECT, or a plain
   * HTTP request) (ms; default 10,000), and then the whole request (`requestTimeoutMs`, default 30,000, at least
   * `headersTimeoutMs`): a client trickling header bytes is answered 408 and closed. An established tunnel is
   * not subject to them (it has `handshakeTimeoutMs` and `idleTimeoutMs`).
   */
  headersTimeoutMs?: number;
  /** See `headersTimeoutMs`. */
  requestTimeoutMs?: number;
  /**
   * How many hosts' forged leaves (and their TLS contexts) are cached (default 256), the least recently used
   * evicted first: a host evicted is forged again on its next tunnel.
   */
  forgeCacheSize?: number;
  /**
   * What the `request` and `response` events keep of each message (default: heads up to 64 KiB, the first 64 KiB
   * of each body): the relayed bytes are never limited. A head longer than `maxHeadBytes` ends the reading of
   * that direction of the tunnel (no more `request` or `response` events on it); the relaying goes on.
   */
  readerLimits?: HttpReaderLimits;
  /** Called with every event, in order, as it happens. */
  onEvent?: (event: InterceptEvent<Leaf>) => void;
}

/**
 * Where an interception failed:
 * - `forge`: the `forge` function threw or rejected (the client's tunnel is dropped);
 * - `client-handshake`: the client refused the forged certificate or broke the handshake (a pinned client ends here);
 * - `client`: the client's TLS session failed after the handshake;
 * - `upstream`: the real server could not be reached, or its TLS failed (an untrusted chain, a reset).
 *
 * @example
 * const refused = events.filter((e) => e.kind === "failure" && e.stage === ("client-handshake" satisfies FailureStage));
 */
export type FailureStage = "forge" | "client-handshake" | "client" | "upstream";

/**
 * One thing the proxy saw, tagged with the tunnel (one per CONNECT, numbered from 1) it happened on.
 * For each tunnel: `connect`, then `forge`, `handshake`, `request`, `relay`, `response` and `failure` as they
 * happen, and `closed` last.
 *
 * @example
 * const stolen = events.some((e) => e.kind === "request" && e.message.headers["authorization"] !== undefined);
 */
export type InterceptEvent<Leaf extends ForgedCertificate = ForgedCertificate> =
  | {
      kind: "connect";
      tunnel: number;
      host: string;
      port: number;
      /** The client's address and port, as the proxy's socket sees them. */
      client: { address: string; port: number };
    }
  /**
   * The TLS records the client sent on the tunnel up to the end of its ClientHello (raw, headers included: one
   * record, or several when the client fragmented the message; at most 64 KiB are read), before the handshake, so
   * that an audit can fingerprint the client's TLS stack. Not emitted when the client sent nothing.
   */
  | { kind: "client-hello"; tunnel: number; record: Buffer }
  | {
      kind: "forge";
      tunnel: number;
      /** The name the leaf was forged for. */
      host: string;
      /** What `forge` returned for it. */
      leaf: Leaf;
      /** Whether the leaf came from the cache (forged for an earlier tunnel). */
      cached: boolean;
      /** The PEMs served after the leaf on this tunnel ({@link InterceptingProxy.appendToChain}). */
      appended: string[];
    }
  | { kind: "handshake"; tunnel: number; protocol: string; servername: string | undefined }
  /** An HTTP/1.x request the client sent, decrypted (for display: relaying is done on the bytes). */
  | { kind: "request"; tunnel: number; message: HttpMessage }
  /** The proxy dials the real server (on the client's first byte of application data). */
  | { kind: "relay"; tunnel: number; host: string; port: number }
  /** An HTTP/1.x response the real server sent back, decrypted. */
  | { kind: "response"; tunnel: number; message: HttpMessage }
  | {
      kind: "failure";
      tunnel: number;
      stage: FailureStage;
      /** The error's `code` (`ECONNRESET`, `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`…), else its message. */
      reason: string;
      /** The error itself. */
      cause: unknown;
    }
  | {
      kind: "closed";
      tunnel: number;
      /** Bytes of application data decrypted from the client on this tunnel. */
      appBytes: number;
      /** Whether the client completed its TLS handshake with the proxy. */
      handshake: boolean;
      /** Set when the proxy dropped the tunnel for a timeout: `handshakeTimeoutMs` or `idleTimeoutMs`. */
      timeout?: "handshake" | "idle";
    };
