import { type ForgedCertificate, type InterceptEvent, InterceptingProxy } from "@keypin/proxy";
import { issueServerCertificate, type LabCertificate } from "./certificates.js";
import type { LookupFunction } from "./lookup.js";

/**
 * What the attacker's proxy wrote in its log: the attacker's view of the traffic.
 *
 * @example
 * const stolen = proxy.log.some((entry: ProxyLogEntry) => entry.kind === "request" && entry.headers["authorization"]);
 */
export type ProxyLogEntry =
  | { session: number; kind: "connect"; host: string; port: number }
  | {
      session: number;
      kind: "forge";
      host: string;
      subject: string;
      issuer: string;
      /** Subjects of the genuine certificates the proxy appended to its forged chain (the appended-intermediate scenario's trick). */
      appended: string[];
    }
  | { session: number; kind: "handshake"; protocol: string }
  | { session: number; kind: "handshake-failed"; reason: string }
  | { session: number; kind: "request"; startLine: string; headers: Record<string, string>; body: string }
  | { session: number; kind: "relay"; host: string; port: number }
  | { session: number; kind: "response"; startLine: string; headers: Record<string, string>; body: string }
  | { session: number; kind: "upstream-error"; reason: string }
  | {
      session: number;
      kind: "closed";
      /** Bytes of application data the proxy decrypted from the app in this session. */
      appBytes: number;
      /** Whether the app completed its TLS handshake with the proxy. */
      handshake: boolean;
    };

/** A forged leaf as the engine serves it, with the lab certificate it came from. */
interface LabForgedLeaf extends ForgedCertificate {
  certificate: LabCertificate;
}

/**
 * The attacker's intercepting proxy, in the manner of Charles or mitmproxy: @keypin/proxy's engine on
 * 127.0.0.1 that, for whatever host it is asked for, forges a leaf certificate signed by its own CA
 * (with the CA's own key, as mitmproxy does), decrypts the app's traffic, logs it, and relays it to the
 * real server. The engine counts, on its own, the bytes of application data it reads from the app.
 *
 * @example
 * const proxy = await AttackerProxy.start({ ca: attackerCa, lookup, upstreamCa: [labRoot.pem] });
 * // point a client at http://127.0.0.1:${proxy.port} …
 * await proxy.idle();
 * proxy.appBytes; proxy.log;
 * await proxy.close();
 */
export class AttackerProxy {
  /** Everything the proxy logged since start. */
  readonly log: ProxyLogEntry[] = [];
  /** Called for each log entry as it is written. */
  onLog: ((entry: ProxyLogEntry) => void) | undefined;

  readonly #engine: InterceptingProxy<LabForgedLeaf>;
  readonly #ca: LabCertificate;
  #appendToChain: LabCertificate[] = [];
  /** The subject of every certificate ever appended, by PEM (for the log). */
  readonly #subjects = new Map<string, string>();

  private constructor(engine: InterceptingProxy<LabForgedLeaf>, ca: LabCertificate) {
    this.#engine = engine;
    this.#ca = ca;
  }

  /**
   * Starts the proxy on 127.0.0.1 (a port the system picks).
   * `upstreamCa`: the anchors the proxy itself trusts when it connects to the real server.
   */
  static async start(options: {
    ca: LabCertificate;
    lookup: LookupFunction;
    upstreamCa: string[];
  }): Promise<AttackerProxy> {
    const { ca } = options;
    let proxy: AttackerProxy | undefined;
    const engine = await InterceptingProxy.start<LabForgedLeaf>({
      // mitmproxy-style: the forged leaf carries the CA's own key, so its pin equals the CA's pin.
      forge: async (host) => {
        const certificate = await issueServerCertificate(ca, host, { key: ca.key, days: 7 });
        return { key: certificate.key.privateKeyPem, cert: certificate.pem, certificate };
      },
      upstream: { lookup: options.lookup, ca: options.upstreamCa },
      onEvent: (event) => {
        if (proxy) proxy.#onEvent(event);
      },
    });
    proxy = new AttackerProxy(engine, ca);
    return proxy;
  }

  /** Bytes of application data decrypted from apps since start (the engine's own counter). */
  get appBytes(): number {
    return this.#engine.appBytes;
  }

  /** Genuine certificates appended after the forged leaf on tunnels opened from now on (empty: an ordinary interceptor). */
  get appendToChain(): LabCertificate[] {
    return this.#appendToChain;
  }

  set appendToChain(certificates: LabCertificate[]) {
    this.#appendToChain = certificates;
    for (const certificate of certificates) this.#subjects.set(certificate.pem, certificate.subject);
    this.#engine.appendToChain = certificates.map((certificate) => certificate.pem);
  }

  /** The port it listens on (127.0.0.1). */
  get port(): number {
    return this.#engine.port;
  }

  /** The attacker's CA certificate (what a user is talked into installing). */
  get ca(): LabCertificate {
    return this.#ca;
  }

  /**
   * Resolves once no session is open (every tunnel closed and logged). With `timeoutMs`, tunnels still open
   * after that long are dropped (and logged as closed) rather than waited for.
   */
  idle(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.#engine.idle(options);
  }

  /** Stops listening and drops every open tunnel. */
  close(): Promise<void> {
    return this.#engine.close();
  }

  #write(entry: ProxyLogEntry): void {
    this.log.push(entry);
    this.onLog?.(entry);
  }

  #onEvent(event: InterceptEvent<LabForgedLeaf>): void {
    const session = event.tunnel;
    switch (event.kind) {
      case "connect":
        this.#write({ session, kind: "connect", host: event.host, port: event.port });
        return;
      case "forge":
        this.#write({
          session,
          kind: "forge",
          host: event.host,
          subject: event.leaf.certificate.subject,
          issuer: this.#ca.subject,
          appended: event.appended.map((pem) => this.#subjects.get(pem) ?? pem),
        });
        return;
      case "handshake":
        this.#write({ session, kind: "handshake", protocol: event.protocol });
        return;
      case "request":
        this.#write({ session, kind: "request", ...event.message });
        return;
      case "relay":
        this.#write({ session, kind: "relay", host: event.host, port: event.port });
        return;
      case "response":
        this.#write({ session, kind: "response", ...event.message });
        return;
      case "failure":
        // The lab narrates a refused forgery and an unreachable server; the other failures end in `closed`.
        if (event.stage === "client-handshake") {
          this.#write({ session, kind: "handshake-failed", reason: event.reason });
        }
        if (event.stage === "upstream") {
          this.#write({ session, kind: "upstream-error", reason: event.reason });
        }
        return;
      case "closed":
        this.#write({ session, kind: "closed", appBytes: event.appBytes, handshake: event.handshake });
        return;
      case "client-hello":
        return; // the raw ClientHello tells audits one client from another; the lab knows its one app
      default: {
        const unreachable: never = event;
        throw new Error(`unknown proxy event ${JSON.stringify(unreachable)}`);
      }
    }
  }
}
