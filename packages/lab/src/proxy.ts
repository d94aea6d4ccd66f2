import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect as connectTls, createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { issueServerCertificate, type LabCertificate } from "./certificates.js";
import { HttpMessageReader } from "./http-reader.js";
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
      /** Subjects of the genuine certificates the proxy appended to its forged chain (the scenario 5 trick). */
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

interface Session {
  id: number;
  client: Socket;
  tls?: TLSSocket;
  upstream?: TLSSocket;
}

/**
 * The attacker's intercepting proxy, in the manner of Charles or mitmproxy: an HTTP CONNECT proxy on
 * 127.0.0.1 that, for whatever host it is asked for, forges a leaf certificate signed by its own CA
 * (with the CA's own key, as mitmproxy does), decrypts the app's traffic, logs it, and relays it to the
 * real server. It counts, on its own, the bytes of application data it reads from the app's TLS sessions.
 *
 * @example
 * const proxy = await InterceptingProxy.start({ ca: attackerCa, lookup, upstreamCa: [labRoot.pem] });
 * // point a client at http://127.0.0.1:${proxy.port} …
 * await proxy.idle();
 * proxy.appBytes; proxy.log;
 * await proxy.close();
 */
export class InterceptingProxy {
  /** Bytes of application data decrypted from apps since start, counted as they are read. */
  appBytes = 0;
  /** Everything the proxy logged since start. */
  readonly log: ProxyLogEntry[] = [];
  /** Genuine certificates appended after the forged leaf (empty: an ordinary interceptor). */
  appendToChain: LabCertificate[] = [];
  /** Called for each log entry as it is written. */
  onLog: ((entry: ProxyLogEntry) => void) | undefined;

  readonly #server: Server;
  readonly #ca: LabCertificate;
  readonly #lookup: LookupFunction;
  readonly #upstreamCa: string[];
  readonly #forged = new Map<string, Promise<LabCertificate>>();
  readonly #sessions = new Set<Session>();
  #waiters: (() => void)[] = [];
  #nextSession = 1;

  private constructor(
    server: Server,
    options: { ca: LabCertificate; lookup: LookupFunction; upstreamCa: string[] },
  ) {
    this.#server = server;
    this.#ca = options.ca;
    this.#lookup = options.lookup;
    this.#upstreamCa = options.upstreamCa;
    server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onConnect(req, socket, head),
    );
    server.on("request", (_req, res) => {
      res.writeHead(405, { "content-type": "text/plain" });
      res.end("This proxy only tunnels HTTPS (HTTP CONNECT).\n");
    });
  }

  /**
   * Starts the proxy on 127.0.0.1 (a port the system picks).
   * `upstreamCa`: the anchors the proxy itself trusts when it connects to the real server.
   */
  static async start(options: {
    ca: LabCertificate;
    lookup: LookupFunction;
    upstreamCa: string[];
  }): Promise<InterceptingProxy> {
    const server = createServer();
    const proxy = new InterceptingProxy(server, options);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return proxy;
  }

  /** The port it listens on (127.0.0.1). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The attacker's CA certificate (what a user is talked into installing). */
  get ca(): LabCertificate {
    return this.#ca;
  }

  /**
   * Resolves once no session is open (every tunnel closed and logged). With `timeoutMs`, tunnels still open
   * after that long are dropped (and logged as closed) rather than waited for.
   */
  async idle(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#sessions.size === 0) return;
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (options.timeoutMs === undefined) return done;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), options.timeoutMs);
    });
    const first = await Promise.race([done, late]);
    clearTimeout(timer);
    if (first === "late") {
      for (const session of this.#sessions) this.#drop(session);
      await done;
    }
  }

  #drop(session: Session): void {
    session.upstream?.destroy();
    session.tls?.destroy();
    session.client.destroy();
  }

  /** Stops listening and drops every open tunnel. */
  async close(): Promise<void> {
    for (const session of this.#sessions) this.#drop(session);
    if (!this.#server.listening) return;
    const closed = once(this.#server, "close");
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }

  #write(entry: ProxyLogEntry): void {
    this.log.push(entry);
    this.onLog?.(entry);
  }

  #forge(host: string): Promise<LabCertificate> {
    let forged = this.#forged.get(host);
    if (!forged) {
      // mitmproxy-style: the forged leaf carries the CA's own key, so its pin equals the CA's pin.
      forged = issueServerCertificate(this.#ca, host, { key: this.#ca.key, days: 7 });
      this.#forged.set(host, forged);
    }
    return forged;
  }

  #onConnect(req: IncomingMessage, client: Socket, head: Buffer): void {
    const session: Session = { id: this.#nextSession++, client };
    this.#sessions.add(session);
    let handshake = false;
    let sessionBytes = 0;
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      session.upstream?.destroy();
      this.#write({ session: session.id, kind: "closed", appBytes: sessionBytes, handshake });
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const resolve of waiters) resolve();
      }
    };
    client.on("error", () => {});
    client.on("close", finish);

    const authority = req.url ?? "";
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
    if (!match) {
      client.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    const host = match[1]!.toLowerCase();
    const port = Number(match[2]);
    this.#write({ session: session.id, kind: "connect", host, port });

    const appended = [...this.appendToChain];
    this.#forge(host).then(
      (leaf) => {
        if (client.destroyed) return;
        this.#write({
          session: session.id,
          kind: "forge",
          host,
          subject: leaf.subject,
          issuer: this.#ca.subject,
          appended: appended.map((c) => c.subject),
        });
        const secureContext: SecureContext = createSecureContext({
          key: leaf.key.privateKeyPem,
          cert: [leaf, ...appended].map((c) => c.pem).join(""),
        });
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length > 0) client.unshift(head);
        const tls = new TLSSocket(client, { isServer: true, secureContext });
        session.tls = tls;
        const requests = new HttpMessageReader();
        tls.on("secure", () => {
          handshake = true;
          this.#write({ session: session.id, kind: "handshake", protocol: tls.getProtocol() ?? "TLS" });
        });
        tls.on("error", (error: NodeJS.ErrnoException) => {
          if (!handshake) {
            this.#write({
              session: session.id,
              kind: "handshake-failed",
              reason: error.code ?? error.message,
            });
          }
          client.destroy();
        });
        tls.on("data", (chunk: Buffer) => {
          // The independent counter: every decrypted byte the app sent is counted here, as it is read.
          this.appBytes += chunk.length;
          sessionBytes += chunk.length;
          for (const message of requests.push(chunk))
            this.#write({ session: session.id, kind: "request", ...message });
          this.#relay(session, host, port, chunk);
        });
        // The proxy's HTTP server allows half-open sockets: pass the app's end on, or end our side too.
        tls.on("end", () => {
          if (session.upstream) session.upstream.end();
          else tls.end();
        });
        tls.on("close", () => client.destroy());
      },
      () => client.destroy(),
    );
  }

  #relay(session: Session, host: string, port: number, chunk: Buffer): void {
    const tls = session.tls!;
    if (!session.upstream) {
      this.#write({ session: session.id, kind: "relay", host, port });
      const responses = new HttpMessageReader();
      const upstream = connectTls({
        host,
        port,
        servername: host,
        lookup: this.#lookup,
        ca: this.#upstreamCa,
      });
      session.upstream = upstream;
      upstream.on("data", (data: Buffer) => {
        for (const message of responses.push(data))
          this.#write({ session: session.id, kind: "response", ...message });
        tls.write(data);
      });
      upstream.on("end", () => {
        for (const message of responses.end())
          this.#write({ session: session.id, kind: "response", ...message });
        tls.end();
      });
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        this.#write({ session: session.id, kind: "upstream-error", reason: error.code ?? error.message });
        tls.destroy();
      });
    }
    session.upstream.write(chunk);
  }
}
