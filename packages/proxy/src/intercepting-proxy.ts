import { constants } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, isIP, type Socket } from "node:net";
import { connect as connectTls, createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { HttpMessageReader } from "./http-reader.js";
import type { FailureStage, ForgedCertificate, InterceptEvent, InterceptingProxyOptions } from "./types.js";

interface Tunnel {
  id: number;
  client: Socket;
  tls?: TLSSocket;
  upstream?: TLSSocket;
  /** Whether the client completed its handshake with the proxy. */
  handshake: boolean;
  /** Application bytes decrypted from the client on this tunnel. */
  appBytes: number;
  /** The name the client asked for in its ClientHello (SNI), if any. */
  servername?: string;
  /** Dropped on a timeout, and which. */
  timeout?: "handshake" | "idle";
  /** The idle timer, armed at the handshake and refreshed by every byte either way. */
  idle?: NodeJS.Timeout;
}

/** The body of the 503 answering a CONNECT beyond `maxTunnels`. */
const FULL = "This proxy has as many tunnels open as it allows (maxTunnels): retry later.\n";

/** Defaults of the limits (see InterceptingProxyOptions). */
const DEFAULTS = {
  handshakeTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  upstreamConnectTimeoutMs: 10_000,
  maxTunnels: 1024,
  maxTunnelsPerClient: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  forgeCacheSize: 256,
};

function reasonOf(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string") return code;
  return typeof message === "string" ? message : String(error);
}

/**
 * The most bytes of TLS records read for the ClientHello before the handshake goes on without the rest: a ClientHello
 * is a few hundred bytes to a few KiB (post-quantum key shares included), and a peer that claims a longer one must
 * not make the proxy buffer it all before TLS even starts. The handshake timer bounds the wait.
 */
const CLIENT_HELLO_MAX_BYTES = 64 * 1024;

/**
 * The client's first bytes, read until they hold its whole ClientHello: the handshake records up to the end of the
 * first handshake message, which may span several records (RFC 8446 5.1: handshake messages may be fragmented;
 * OpenSSL reassembles them, and `openssl s_client -max_send_frag 512` sends a long hello in two). `push` says when
 * to stop: the hello is whole, or waiting is pointless (no TLS, a record of another type before the message ends,
 * CLIENT_HELLO_MAX_BYTES read). Linear in the bytes, however small the chunks or records a peer sends.
 */
class ClientHelloReader {
  #bytes = Buffer.alloc(0);
  #length = 0;
  /** Where the next record's header starts. */
  #offset = 0;
  /** The handshake message's type and u24 length, from the first records' bodies. */
  readonly #header: number[] = [];
  #body = 0;
  #done = false;

  get bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  push(chunk: Buffer): boolean {
    if (this.#length + chunk.length > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#length + chunk.length, 2 * this.#bytes.length, 1024));
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    chunk.copy(this.#bytes, this.#length);
    this.#length += chunk.length;
    this.#done ||= this.#scan();
    return this.#done;
  }

  #scan(): boolean {
    const b = this.#bytes;
    const end = this.#length;
    if (end < 5) return false;
    if (b[0] !== 0x16 || end >= CLIENT_HELLO_MAX_BYTES) return true;
    while (this.#offset + 5 <= end) {
      const at = this.#offset;
      if (b[at] !== 0x16) return true;
      const length = b.readUInt16BE(at + 3);
      if (at + 5 + length > end) return false;
      for (let i = 0; i < length && this.#header.length < 4; i++) this.#header.push(b[at + 5 + i]!);
      this.#body += length;
      this.#offset = at + 5 + length;
      const [, h1 = 0, h2 = 0, h3 = 0] = this.#header;
      if (this.#header.length === 4 && this.#body >= 4 + ((h1 << 16) | (h2 << 8) | h3)) return true;
    }
    return false;
  }
}

/**
 * Reads the client's TLS records up to the end of its ClientHello (see ClientHelloReader; what arrived if the
 * client stops, is dropped by the handshake timer, or sends no TLS), then pauses the socket so that the bytes can
 * be put back for the TLS layer.
 */
function clientHelloRecords(socket: Socket, head: Buffer): Promise<Buffer> {
  const reader = new ClientHelloReader();
  if (reader.push(head) || socket.destroyed) return Promise.resolve(reader.bytes);
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off("data", onData);
      socket.off("end", done);
      socket.off("close", done);
      socket.pause();
      resolve(reader.bytes);
    };
    const onData = (chunk: Buffer): void => {
      if (reader.push(chunk)) done();
    };
    socket.on("data", onData);
    socket.once("end", done);
    socket.once("close", done);
  });
}

/**
 * Whether a CONNECT target's host is one the proxy can forge for: a DNS name (letters, digits, `-`, `_`), an
 * IPv4 address, or an IPv6 address without a zone (`fe80::1%eth0` names a network interface and has no form
 * in a certificate or a URL). Anything else a client sends is answered 400 before any listener sees it.
 */
/**
 * Answers a CONNECT that gets no tunnel and closes the connection once the answer is out, whether the client closes
 * its side or not: a half-open socket would otherwise hold its tunnel slot until the handshake timer (review).
 */
function answerAndClose(client: Socket, answer: string): void {
  client.end(answer);
  client.once("finish", () => client.destroy());
}

function isTunnelHost(host: string): boolean {
  const family = isIP(host);
  if (family === 4) return true;
  if (family === 6) return !host.includes("%");
  if (
    host.length > 253 ||
    !/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/.test(host)
  )
    return false;
  // A name whose last label is a number is an IPv4 address to the URL standard (1.2.3 is 1.2.0.3) or no host at
  // all (a.123, 1.2.3.4.5, 256.1.1.1): those cannot be forged for, and used to close with no answer (review).
  const last = host.replace(/\.$/, "").split(".").pop() ?? "";
  if (!/^(?:\d+|0x[0-9a-f]*)$/.test(last)) return true;
  try {
    return isIP(new URL(`http://${host}/`).hostname) === 4;
  } catch {
    return false;
  }
}

/**
 * An intercepting HTTPS proxy in the manner of mitmproxy or Charles: it answers HTTP CONNECT, presents a
 * leaf forged for the host asked for (SNI first), decrypts the client's traffic and relays it to the real
 * server over a second TLS connection. It counts, on its own, every byte of application data it decrypts
 * from clients, so a test or a lab can show that a pinned client sent it none.
 *
 * @example
 * const proxy = await InterceptingProxy.start({
 *   forge: (host) => forgeLeaf(attackerCa, host), // any { key, cert } PEM pair
 *   upstream: { ca: [publicRoot.pem] },
 *   onEvent: (event) => console.log(event.kind),
 * });
 * // point a client at proxy.url, then:
 * await proxy.idle();
 * console.log(proxy.appBytes);
 * await proxy.close();
 */
export class InterceptingProxy<Leaf extends ForgedCertificate = ForgedCertificate> {
  /** Bytes of application data decrypted from clients since start, counted as they are read. */
  appBytes = 0;
  /** Certificates (PEM) served after the forged leaf on tunnels opened from now on; empty by default. */
  appendToChain: string[] = [];
  /** CONNECTs answered 503 since start because `maxTunnels` tunnels were open (or `maxTunnelsPerClient` from its address). */
  refusedTunnels = 0;

  readonly #server: Server;
  readonly #options: InterceptingProxyOptions<Leaf>;
  /** The forged leaves by host, least recently used first (a Map keeps insertion order: a hit re-inserts). */
  readonly #forged = new Map<string, Promise<Leaf>>();
  /**
   * The secure context serving each forged leaf, per chain appended after it: made once, not per tunnel (parsing
   * the leaf's key and certificate into a context cost more than the TLS handshake itself).
   */
  readonly #contexts = new WeakMap<Leaf, Map<string, SecureContext>>();
  /** The context of every upstream connection (trust anchors parsed once, not per tunnel), made on first use. */
  #upstreamContext: SecureContext | undefined;
  readonly #tunnels = new Set<Tunnel>();
  /** Open tunnels per client address. */
  readonly #perAddress = new Map<string, number>();
  #waiters: (() => void)[] = [];
  #listening: AddressInfo | undefined;
  #nextTunnel = 1;

  private constructor(server: Server, options: InterceptingProxyOptions<Leaf>) {
    this.#server = server;
    this.#options = options;
    server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onConnect(req, socket, head),
    );
    server.on("request", (req, res) => {
      if (options.httpRequest) return options.httpRequest(req, res);
      res.writeHead(405, { "content-type": "text/plain" });
      res.end("This proxy only tunnels HTTPS (HTTP CONNECT).\n");
    });
  }

  /**
   * Starts the proxy, listening on `options.host` (127.0.0.1) and `options.port` (one the system picks).
   *
   * @example
   * const proxy = await InterceptingProxy.start({ forge: (host) => forgeLeaf(ca, host) });
   */
  static async start<Leaf extends ForgedCertificate>(
    options: InterceptingProxyOptions<Leaf>,
  ): Promise<InterceptingProxy<Leaf>> {
    const headersTimeout = options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs;
    const requestTimeout = Math.max(options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs, headersTimeout);
    const server = createServer({
      headersTimeout,
      requestTimeout,
      // How often Node checks those timeouts (its default, 30 s, would let a slow client stay that long).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    });
    server.maxConnections = options.maxConnections ?? (options.maxTunnels ?? DEFAULTS.maxTunnels) + 64;
    const proxy = new InterceptingProxy(server, options);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
    await once(server, "listening");
    proxy.#address();
    return proxy;
  }

  /** The port it listens on (still known after `close`). */
  get port(): number {
    return this.#address().port;
  }

  /** The proxy's URL for a client: `http://127.0.0.1:<port>` (brackets around an IPv6 address). */
  get url(): string {
    const { address, port } = this.#address();
    return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
  }

  #address(): AddressInfo {
    this.#listening ??= this.#server.address() as AddressInfo;
    return this.#listening;
  }

  /**
   * Resolves once no tunnel is open (every tunnel closed and its `closed` event emitted). With `timeoutMs`,
   * tunnels still open after that long are dropped rather than waited for.
   *
   * @example
   * await proxy.idle({ timeoutMs: 5000 });
   */
  async idle(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#tunnels.size === 0) return;
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (options.timeoutMs === undefined) return done;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), options.timeoutMs);
    });
    const first = await Promise.race([done, late]);
    clearTimeout(timer);
    if (first === "late") {
      for (const tunnel of this.#tunnels) this.#drop(tunnel);
      await done;
    }
  }

  /**
   * Stops listening and drops every open tunnel.
   *
   * @example
   * await proxy.close();
   */
  async close(): Promise<void> {
    for (const tunnel of this.#tunnels) this.#drop(tunnel);
    if (!this.#server.listening) return;
    const closed = once(this.#server, "close");
    this.#server.close();
    this.#server.closeAllConnections();
    await closed;
  }

  #drop(tunnel: Tunnel, timeout?: "handshake" | "idle"): void {
    if (timeout && !tunnel.client.destroyed) tunnel.timeout = timeout;
    tunnel.upstream?.destroy();
    tunnel.tls?.destroy();
    tunnel.client.destroy();
  }

  #emit(event: InterceptEvent<Leaf>): void {
    this.#options.onEvent?.(event);
  }

  /** The leaf for `host`, from the cache or forged now. */
  #forge(host: string): { leaf: Promise<Leaf>; cached: boolean } {
    const cached = this.#forged.get(host);
    if (cached) {
      this.#forged.delete(host);
      this.#forged.set(host, cached);
      return { leaf: cached, cached: true };
    }
    const leaf = Promise.resolve().then(() => this.#options.forge(host));
    this.#forged.set(host, leaf);
    const size = Math.max(1, this.#options.forgeCacheSize ?? DEFAULTS.forgeCacheSize);
    // The least recently used go (their contexts with them: a WeakMap keyed by the leaf).
    for (const oldest of this.#forged.keys()) {
      if (this.#forged.size <= size) break;
      this.#forged.delete(oldest);
    }
    leaf.catch(() => {
      if (this.#forged.get(host) === leaf) this.#forged.delete(host);
    });
    return { leaf, cached: false };
  }

  /** Forges (or reuses) the leaf for `name` and makes the context serving it, followed by `appended`. */
  async #contextFor(
    name: string,
    appended: string[],
  ): Promise<{ leaf: Leaf; cached: boolean; context: SecureContext }> {
    const { leaf: pending, cached } = this.#forge(name);
    const leaf = await pending;
    let byChain = this.#contexts.get(leaf);
    if (!byChain) {
      byChain = new Map();
      this.#contexts.set(leaf, byChain);
    }
    const chain = appended.join("");
    let context = byChain.get(chain);
    if (!context) {
      context = createSecureContext({
        key: leaf.key,
        cert: leaf.cert + chain,
        ...(this.#options.clientSessionResumption === true
          ? {}
          : { secureOptions: constants.SSL_OP_NO_TICKET }),
      });
      byChain.set(chain, context);
    }
    return { leaf, cached, context };
  }

  #fail(tunnel: Tunnel, stage: FailureStage, error: unknown): void {
    this.#emit({ kind: "failure", tunnel: tunnel.id, stage, reason: reasonOf(error), cause: error });
  }

  #onConnect(req: IncomingMessage, client: Socket, head: Buffer): void {
    const address = client.remoteAddress ?? "";
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (
      this.#tunnels.size >= (this.#options.maxTunnels ?? DEFAULTS.maxTunnels) ||
      fromAddress >= (this.#options.maxTunnelsPerClient ?? DEFAULTS.maxTunnelsPerClient)
    ) {
      this.refusedTunnels++;
      client.on("error", () => {});
      answerAndClose(
        client,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n" +
          `content-length: ${Buffer.byteLength(FULL)}\r\n\r\n${FULL}`,
      );
      return;
    }
    const tunnel: Tunnel = { id: this.#nextTunnel++, client, handshake: false, appBytes: 0 };
    this.#tunnels.add(tunnel);
    this.#perAddress.set(address, fromAddress + 1);
    const handshakeTimer = setTimeout(() => {
      if (!tunnel.handshake) this.#drop(tunnel, "handshake");
    }, this.#options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs);
    handshakeTimer.unref();
    let closed = false;
    const finish = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(handshakeTimer);
      clearTimeout(tunnel.idle);
      tunnel.upstream?.destroy();
      this.#emit({
        kind: "closed",
        tunnel: tunnel.id,
        appBytes: tunnel.appBytes,
        handshake: tunnel.handshake,
        ...(tunnel.timeout ? { timeout: tunnel.timeout } : {}),
      });
      this.#tunnels.delete(tunnel);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
      if (this.#tunnels.size === 0) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const resolve of waiters) resolve();
      }
    };
    client.on("error", () => {});
    client.on("close", finish);

    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? "");
    if (!match) {
      answerAndClose(client, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const host = match[1]!.toLowerCase();
    const port = Number(match[2]);
    if (!isTunnelHost(host) || port < 1 || port > 65_535) {
      answerAndClose(client, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const from = { address, port: client.remotePort ?? 0 };
    this.#emit({ kind: "connect", tunnel: tunnel.id, host, port, client: from });

    const appended = [...this.appendToChain];
    this.#contextFor(host, appended).then(
      ({ leaf, cached, context }) => {
        if (client.destroyed) return;
        this.#emit({ kind: "forge", tunnel: tunnel.id, host, leaf, cached, appended });
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        return clientHelloRecords(client, head).then((first) => {
          if (first.length > 0) this.#emit({ kind: "client-hello", tunnel: tunnel.id, record: first });
          // A client that ended its side before a whole ClientHello will send no handshake: close the tunnel
          // (the HTTP server's sockets are half-open, so nothing else would, and it would stay open for good).
          if (client.readableEnded) client.destroy();
          if (client.destroyed) return;
          if (first.length > 0) client.unshift(first);
          this.#serve(tunnel, host, port, context, appended);
        });
      },
      (error: unknown) => {
        this.#fail(tunnel, "forge", error);
        // The CONNECT is not answered yet: say so, rather than drop the connection with no word.
        if (!client.destroyed)
          answerAndClose(client, "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
      },
    );
  }

  #serve(tunnel: Tunnel, host: string, port: number, context: SecureContext, appended: string[]): void {
    const client = tunnel.client;
    const tls = new TLSSocket(client, {
      isServer: true,
      secureContext: context,
      // A client asking for another name than the CONNECT host gets a leaf forged for that name.
      SNICallback: (servername, callback) => {
        const name = servername.toLowerCase();
        tunnel.servername = name;
        if (name === host) return callback(null, context);
        this.#contextFor(name, appended).then(
          (forged) => {
            const { leaf, cached } = forged;
            this.#emit({ kind: "forge", tunnel: tunnel.id, host: name, leaf, cached, appended });
            callback(null, forged.context);
          },
          (error: Error) => {
            this.#fail(tunnel, "forge", error);
            callback(error);
          },
        );
      },
    });
    tunnel.tls = tls;
    this.#intercept(tunnel, tls, host, port);
  }

  #intercept(tunnel: Tunnel, tls: TLSSocket, host: string, port: number): void {
    const requests = new HttpMessageReader(this.#options.readerLimits);
    tls.on("secure", () => {
      tunnel.handshake = true;
      const idleMs = this.#options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
      tunnel.idle = setTimeout(() => this.#drop(tunnel, "idle"), idleMs);
      tunnel.idle.unref();
      const { servername } = tunnel;
      this.#emit({ kind: "handshake", tunnel: tunnel.id, protocol: tls.getProtocol() ?? "TLS", servername });
    });
    tls.on("error", (error: unknown) => {
      this.#fail(tunnel, tunnel.handshake ? "client" : "client-handshake", error);
      tunnel.client.destroy();
    });
    tls.on("data", (chunk: Buffer) => {
      // The independent counter: every decrypted byte the client sent is counted here, as it is read.
      this.appBytes += chunk.length;
      tunnel.appBytes += chunk.length;
      tunnel.idle?.refresh();
      for (const message of requests.push(chunk)) this.#emit({ kind: "request", tunnel: tunnel.id, message });
      this.#relay(tunnel, tls, host, port, chunk);
    });
    // The HTTP server allows half-open sockets: pass the client's end on, or end our side too.
    tls.on("end", () => {
      if (tunnel.upstream) tunnel.upstream.end();
      else tls.end();
    });
    tls.on("close", () => tunnel.client.destroy());
    // Backpressure: a client slower than its real server stops the reading of the real server (and the other way
    // in #relay), so that the proxy holds a socket's buffer of each direction, not the whole transfer.
    tls.on("drain", () => {
      tunnel.idle?.refresh();
      tunnel.upstream?.resume();
    });
  }

  /** The upstream connections' context, with the trust anchors `ca` (the options' own, fixed at start). */
  #upstreamContextFor(ca: string | string[]): SecureContext {
    this.#upstreamContext ??= createSecureContext({ ca });
    return this.#upstreamContext;
  }

  #relay(tunnel: Tunnel, tls: TLSSocket, host: string, port: number, chunk: Buffer): void {
    if (!tunnel.upstream) {
      this.#emit({ kind: "relay", tunnel: tunnel.id, host, port });
      const options = this.#options.upstream ?? {};
      const target = options.address?.(host, port) ?? { host, port };
      const servername = tunnel.servername ?? host;
      const responses = new HttpMessageReader(this.#options.readerLimits);
      const upstream = connectTls({
        host: target.host,
        port: target.port,
        ...(isIP(servername) === 0 ? { servername } : {}),
        ...(options.lookup ? { lookup: options.lookup } : {}),
        ...(options.ca ? { secureContext: this.#upstreamContextFor(options.ca) } : {}),
        rejectUnauthorized: options.rejectUnauthorized ?? true,
      });
      tunnel.upstream = upstream;
      const connectMs = this.#options.upstreamConnectTimeoutMs ?? DEFAULTS.upstreamConnectTimeoutMs;
      const connectTimer = setTimeout(() => {
        const error = new Error(
          `the real server ${target.host}:${target.port} did not complete TCP and TLS within ${connectMs} ms`,
        );
        upstream.destroy(Object.assign(error, { code: "ETIMEDOUT" }));
      }, connectMs);
      connectTimer.unref();
      upstream.once("secureConnect", () => clearTimeout(connectTimer));
      upstream.once("close", () => clearTimeout(connectTimer));
      upstream.on("data", (data: Buffer) => {
        tunnel.idle?.refresh();
        for (const message of responses.push(data))
          this.#emit({ kind: "response", tunnel: tunnel.id, message });
        if (!tls.write(data)) upstream.pause();
      });
      upstream.on("end", () => {
        for (const message of responses.end()) this.#emit({ kind: "response", tunnel: tunnel.id, message });
        tls.end();
      });
      upstream.on("drain", () => {
        tunnel.idle?.refresh();
        tls.resume();
      });
      upstream.on("error", (error: unknown) => {
        this.#fail(tunnel, "upstream", error);
        tls.destroy();
      });
    }
    if (!tunnel.upstream.write(chunk)) tls.pause();
  }
}
