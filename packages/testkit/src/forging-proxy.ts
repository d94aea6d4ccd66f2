// The intercepting (forging) proxy for tests: @keypin/proxy's engine, the same one the lab's attacker runs, with
// counters a test asserts on. Like Charles or mitmproxy it answers CONNECT, forges a leaf for the host asked for with
// a CA the client trusts, reads the decrypted requests (their bearer tokens) and forwards them to the real server.
// It counts the application bytes it received, so a test can prove a pinned client sent none.
import {
  type FailureStage,
  type ForgedCertificate,
  type InterceptEvent,
  InterceptingProxy,
  type UpstreamOptions,
} from "@keypin/proxy";
import { issueLeaf, type TestCert } from "./pki.js";

export interface ForgingProxy {
  /** `http://127.0.0.1:<port>`, for a client's proxy option or HTTPS_PROXY. */
  url: string;
  port: number;
  /** CONNECT requests received ("host:port"). */
  connects: string[];
  /** The names a leaf was presented for, one per tunnel (a cached leaf counts again). */
  forged: string[];
  /** TLS handshakes completed with clients (the forgery was presented and accepted). */
  handshakes: number;
  /** Decrypted application bytes received from clients (the engine's own counter). */
  applicationBytes: number;
  /** Authorization headers seen in decrypted requests, each once. */
  tokens: string[];
  /** Every failure the engine reported: where, and its cause's code or message. */
  failures: { stage: FailureStage; reason: string }[];
  /** Everything the engine reported, in order. */
  events: InterceptEvent[];
  /** Resolves once every tunnel is closed and counted. */
  idle: () => Promise<void>;
  close: () => Promise<void>;
}

export interface ForgingProxyOptions {
  /** The CA the device trusts (attacker-controlled): the default `forge` signs a P-256 leaf for the host with it. */
  ca?: TestCert;
  /** Forges the leaf for a host instead (a TestCert, or PEM key and certificate); called once per host. */
  forge?: (host: string) => TestCert | ForgedCertificate | Promise<TestCert | ForgedCertificate>;
  /** Certificates (PEM) served after the forged leaf (e.g. the genuine pinned intermediate). */
  append?: string;
  /**
   * How the proxy reaches the real server. Default: 127.0.0.1 at the CONNECT port, whatever certificate it serves
   * (the attacker does not care whether the real server is genuine).
   */
  upstream?: UpstreamOptions;
}

function asForged(leaf: TestCert | ForgedCertificate): ForgedCertificate {
  return "keyPem" in leaf ? { key: leaf.keyPem, cert: leaf.pem } : leaf;
}

/** Starts a forging proxy on 127.0.0.1 (port 0). */
export async function startForgingProxy(options: ForgingProxyOptions): Promise<ForgingProxy> {
  const { ca } = options;
  const forge =
    options.forge ??
    (ca ? (host: string) => issueLeaf("p256", [host], ca) : undefined) ??
    (() => {
      throw new Error("startForgingProxy needs `ca` or `forge`");
    });
  const connects: string[] = [];
  const forged: string[] = [];
  const tokens: string[] = [];
  const failures: ForgingProxy["failures"] = [];
  const events: InterceptEvent[] = [];
  let handshakes = 0;
  const engine = await InterceptingProxy.start({
    forge: async (host) => asForged(await forge(host)),
    upstream: options.upstream ?? {
      address: (_host, port) => ({ host: "127.0.0.1", port }),
      rejectUnauthorized: false,
    },
    onEvent: (event) => {
      events.push(event);
      switch (event.kind) {
        case "connect":
          connects.push(`${event.host.includes(":") ? `[${event.host}]` : event.host}:${event.port}`);
          break;
        case "forge":
          forged.push(event.host);
          break;
        case "handshake":
          handshakes++;
          break;
        case "request": {
          const token = event.message.headers["authorization"];
          if (token !== undefined && !tokens.includes(token)) tokens.push(token);
          break;
        }
        case "failure":
          failures.push({ stage: event.stage, reason: event.reason });
          break;
      }
    },
  });
  if (options.append) engine.appendToChain = [options.append];
  return {
    url: engine.url,
    port: engine.port,
    connects,
    forged,
    get handshakes() {
      return handshakes;
    },
    get applicationBytes() {
      return engine.appBytes;
    },
    tokens,
    failures,
    events,
    idle: () => engine.idle(),
    close: () => engine.close(),
  };
}
