import type { ClientRequest } from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions } from "node:https";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { KeypinError } from "@keypin/core";
import { Agent, type Dispatcher, ProxyAgent } from "undici";
import { PinCheckError } from "./errors.js";
import {
  asciiHost,
  CheckedConnection,
  PinChecker,
  type PinningOptions,
  readAuthority,
} from "./pin-checker.js";
import { parseProxyUrl } from "./proxy-tunnel.js";
import { SessionCache } from "./session-cache.js";
import {
  attachSocketHooks,
  hookedDirectFactory,
  hookedTunnelFactory,
  socketHooksOf,
  type TlsSocketHooks,
} from "./socket-hooks.js";

/**
 * TLS options that pin: spread them into any `tls.connect` user (database drivers, gRPC, SMTP, a raw socket).
 * They hold `checkServerIdentity` (Node's hostname check, then the pins, on the signature-verified path),
 * `secureContext` (built once from the trust anchors) and `rejectUnauthorized: true`, plus `connect`.
 * Do not override those three; do not reuse a TLS `session` obtained with other options.
 *
 * @example
 * import tls from "node:tls";
 * import { pinnedTlsOptions } from "@keypin/node";
 * const pinned = pinnedTlsOptions({ policy: "keypin.json" });
 * const socket = tls.connect({ host: "db.example.com", port: 5432, servername: "db.example.com", ...pinned });
 * socket.on("error", (error) => console.error(error.code)); // "ERR_KEYPIN_PIN_MISMATCH" on a mismatch
 */
export function pinnedTlsOptions(options: PinningOptions): ConnectionOptions {
  refuseProxy(options, "pinnedTlsOptions");
  return new PinChecker(options).tlsOptions() as ConnectionOptions;
}

/** `proxy` is an undici feature here; silently connecting directly would surprise, so say it. */
export function refuseProxy(options: PinningOptions, api: string): void {
  if (options.proxy === undefined) return;
  throw new KeypinError(
    "ERR_KEYPIN_OPTIONS",
    `\`proxy\` is supported by createPinnedDispatcher only, not by ${api}. With axios, set HTTPS_PROXY (the pins ` +
      "survive its tunnel); otherwise tunnel yourself and pass the socket to tls.connect with these options.",
  );
}

/** The refusal of an option that would bypass pinning, before any connection is made. */
function bypassRefused(what: string): KeypinError {
  return new KeypinError(
    "ERR_KEYPIN_OPTIONS",
    `A request on a pinned agent asked for ${what}, which would bypass pinning; the connection was not made.`,
  );
}

const OWN_SESSION =
  "a TLS session of its own (resuming it would skip the hostname and pin checks: Node runs neither on a resumed " +
  "session); the agent resumes only sessions from its own checked handshakes";

/**
 * An https.Agent whose connections are pinned; its pool and TLS session cache serve only its own policy. Sessions
 * are cached per agent key (host, port, server name and the TLS options that change a handshake, as Node's own
 * cache is), only from handshakes Node verified (Node emits 'session' after `checkServerIdentity` passed), and
 * handed to tls.connect as an own property, so that nothing else (a polluted `Object.prototype.session`) can be.
 */
class PinnedHttpsAgent extends HttpsAgent {
  readonly #checker: PinChecker;
  readonly #sessions: SessionCache<{ session: Buffer; checked: CheckedConnection }>;
  readonly #hooks: TlsSocketHooks | undefined;

  constructor(checker: PinChecker, agentOptions: HttpsAgentOptions, hooks?: TlsSocketHooks) {
    const maxCachedSessions = agentOptions.maxCachedSessions ?? 100;
    // The check lives in `options` (not in a method) so that agents copying `agent.options` keep it (axios). Node's
    // cache is off (this class keeps its own); `options.session` is own and undefined, so a request's session (refused
    // in addRequest) and a polluted prototype's never reach tls.connect, in this agent or in a copy of its options.
    super({ ...agentOptions, ...checker.tlsOptions(), maxCachedSessions: 0, session: undefined });
    this.#checker = checker;
    this.#sessions = new SessionCache<{ session: Buffer; checked: CheckedConnection }>(maxCachedSessions);
    this.#hooks = hooks;
  }

  // Node merges `agent.options` over a request's options, so a request's `session` is refused here, before the merge.
  addRequest(req: ClientRequest, options: RequestOptions): void {
    if (
      typeof options === "object" &&
      options !== null &&
      (options as { session?: unknown }).session !== undefined
    ) {
      // As Node's agent fails a request whose socket could not be made: the request emits the error, then 'close'.
      (req as unknown as { onSocket: (socket: undefined, error: Error) => void }).onSocket(
        undefined,
        bypassRefused(OWN_SESSION),
      );
      return;
    }
    (
      HttpsAgent.prototype as unknown as { addRequest: (r: ClientRequest, o: RequestOptions) => void }
    ).addRequest.call(this, req, options);
  }

  override createConnection(
    options: RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const refused =
      options.rejectUnauthorized === false
        ? "rejectUnauthorized: false"
        : options.checkServerIdentity !== this.#checker.checkServerIdentity
          ? "another checkServerIdentity"
          : (options as { secureContext?: unknown }).secureContext !== this.#checker.secureContext
            ? "another secureContext"
            : // Through addRequest `session` is this agent's own undefined; a direct call may bring one.
              (options as { session?: unknown }).session !== undefined
              ? OWN_SESSION
              : undefined;
    if (refused) {
      const error = bypassRefused(refused);
      if (!callback) throw error;
      callback(error, undefined as unknown as Duplex);
      return undefined;
    }
    const checker = this.#checker;
    const key = sessionKeyOf(options);
    const record = new CheckedConnection(Number(options.port) || 443);
    // A session is resumed only when its handshake was checked for every policy this connection's would be: one
    // made for a request with no Host header is not resumed for a request whose Host header names a pinned host.
    const cached = this.#sessions.get(key);
    const needed = checker.policiesOfConnection(options as Record<string, unknown>);
    const offered = cached && [...needed].every((p) => cached.checked.policies.has(p)) ? cached : undefined;
    const socket = super.createConnection(
      {
        ...options,
        session: offered?.session,
        checkServerIdentity: checker.checkServerIdentityFor(record),
      } as RequestOptions,
      callback,
    ) as TLSSocket | null | undefined;
    const sessions = this.#sessions;
    if (socket) {
      if (this.#hooks) attachSocketHooks(socket, this.#hooks, (message) => checker.warn(message));
      guardRequestHosts(socket, record, checker);
      // Node runs no check on a resumed session (after its own 'secure' listener, in the same event): the
      // connection inherits what the session's handshake was checked for, and requests already bound to it are
      // checked on that handshake's chain, before any of their bytes is encrypted.
      socket.on("secure", () => {
        if (socket.destroyed || !socket.isSessionReused()) return;
        const error = offered
          ? checker.resumeOn(record, offered.checked)
          : new PinCheckError("a resumed TLS session", "keypin offered none");
        if (error) socket.destroy(error);
      });
      socket.on("session", (session: Buffer) => {
        if (record.chain !== undefined) sessions.set(key, { session, checked: record });
      });
      socket.once("close", (hadError: boolean) => {
        if (hadError) sessions.delete(key);
      });
    }
    return socket;
  }
}

/**
 * What an HTTP/1.1 request on a socket is addressed to: its Host header lines and an absolute-form target's host.
 * `unreadable` is set when a Host value or the target names a host keypin cannot read (a port out of range, a space, an
 * `https:host` target a URL parser still reads as https://host/): the request is refused, since a server may read a
 * pinned name from it.
 */
export function hostsOfRequestHead(head: string): { hosts: string[]; unreadable?: string } {
  const lines = head.split("\r\n");
  const hosts: string[] = [];
  const [method, target] = (lines[0] ?? "").split(" ");
  // Origin form and `*` name no host; CONNECT's authority form names where a proxy tunnels, not a virtual host.
  if (target !== undefined && !target.startsWith("/") && target !== "*" && method !== "CONNECT") {
    const host = hostOfTarget(target);
    if (host === undefined) return { hosts, unreadable: `the request target ${clip(target)}` };
    hosts.push(host);
  }
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== "host") continue;
    const value = line.slice(colon + 1).trim();
    const host = readAuthority(value);
    if (host === null) return { hosts, unreadable: `the Host header ${clip(value)}` };
    if (host) hosts.push(host);
  }
  return { hosts };
}

/** The host of an absolute-form request target (`https://host/…`, or `https:host/…` as a URL parser reads it). */
function hostOfTarget(target: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target) && !/^https?:/i.test(target)) return undefined;
  try {
    const host = new URL(target).hostname.replace(/^\[|\]$/g, "");
    return host === "" ? undefined : host;
  } catch {
    return undefined;
  }
}

/** A value for an error message: JSON-quoted, at most 80 characters. */
function clip(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** The refusal of a request addressed to a host keypin cannot read, on a pinned connection (fail closed). */
export function unreadableRefused(what: string): KeypinError {
  return new KeypinError(
    "ERR_KEYPIN_OPTIONS",
    `A request on a pinned connection is addressed by ${what}, which names no host keypin can read; a server might ` +
      "still read a pinned host from it, so the request was not sent.",
  );
}

/** The parts of a ClientRequest this guard reads: the header block Node rendered, and its headers. */
interface BoundRequest {
  _header?: unknown;
  getHeader?: (name: string) => unknown;
}

/**
 * Checks each HTTP/1.1 request a pinned socket carries for the host it is addressed to, at its first write (the
 * header block is final then: `setHeader("Host", …)` after `https.request()` included), before any of its bytes
 * reaches the socket. A request whose Host header (or absolute-form target) names a pinned host the socket's chain
 * was not checked for is checked on that chain now (a keep-alive socket, a resumed session) or when the handshake
 * completes; on a failure the socket is destroyed with the error and the request fails with it, unwritten.
 */
function guardRequestHosts(socket: TLSSocket, record: CheckedConnection, checker: PinChecker): void {
  const write = socket.write;
  let bound: unknown;
  let refused = false;
  socket.write = function keypinGuardedWrite(this: TLSSocket, ...args: unknown[]): boolean {
    if (refused) return false;
    const request = (this as unknown as { _httpMessage?: BoundRequest | null })._httpMessage;
    if (request && request !== bound) {
      bound = request;
      const head = request._header;
      const read =
        typeof head === "string" ? hostsOfRequestHead(head) : hostsOfHostHeader(request.getHeader?.("host"));
      if (read.unreadable !== undefined) {
        refused = true;
        this.destroy(unreadableRefused(read.unreadable));
        return false;
      }
      for (const host of read.hosts) {
        const error = checker.checkHostOn(record, host);
        if (error) {
          refused = true;
          this.destroy(error);
          return false;
        }
      }
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof socket.write;
}

/** A Host header value as hostsOfRequestHead reads one (for a request whose header block is not rendered). */
function hostsOfHostHeader(value: unknown): { hosts: string[]; unreadable?: string } {
  const host = readAuthority(typeof value === "number" ? String(value) : value);
  if (host === null) return { hosts: [], unreadable: `the Host header ${clip(String(value))}` };
  return { hosts: host ? [host] : [] };
}

/** Node's agent key (host, port, server name, TLS options), with the destination spelled out in case it is absent. */
function sessionKeyOf(options: RequestOptions): string {
  const { host, port, servername } = options as RequestOptions & { servername?: string };
  const agentKey = (options as { _agentKey?: unknown })._agentKey;
  return JSON.stringify([host, port, servername, typeof agentKey === "string" ? agentKey : ""]);
}

/**
 * A `node:https` Agent whose every connection is pinned: for `https.request`, axios (`httpsAgent`), got
 * (`agent: { https }`) and ws (`agent`). The pin check sits in `agent.options.checkServerIdentity`, so it survives
 * axios replacing the agent with its CONNECT tunnel when HTTPS_PROXY is set. The agent has its own socket pool and
 * TLS session cache: never share it with unpinned code or another policy. `agent` takes https.Agent options
 * (`keepAlive`, `maxSockets` …).
 *
 * @example
 * import https from "node:https";
 * import { createPinnedAgent } from "@keypin/node";
 * const agent = createPinnedAgent({ policy: "keypin.json" });
 * https.get("https://api.example.com/", { agent }, (res) => res.resume());
 * // axios.get(url, { httpsAgent: agent }); got(url, { agent: { https: agent } }); new WebSocket(url, { agent })
 */
export function createPinnedAgent(
  options: PinningOptions & TlsSocketHooks & { agent?: HttpsAgentOptions },
): HttpsAgent {
  refuseProxy(options, "createPinnedAgent");
  const hooks = socketHooksOf(options);
  return new PinnedHttpsAgent(new PinChecker(options), options.agent ?? {}, hooks);
}

/** A pinned https.Agent on an existing check (internal: createPinnedGotAgents shares one check with HTTP/2). */
export function pinnedHttpsAgentOf(checker: PinChecker, agentOptions: HttpsAgentOptions): HttpsAgent {
  return new PinnedHttpsAgent(checker, agentOptions);
}

/**
 * An undici (v7) Dispatcher whose every connection is pinned, for `undici.fetch`/`undici.request` (and, on Node
 * 20, the global `fetch`: see the README for what works). Redirects to other origins go through the same
 * dispatcher and are checked too; the policy is chosen by the TLS server name. With `proxy`, an undici ProxyAgent
 * tunnels through HTTP CONNECT and pins the origin. The dispatcher has its own pools and TLS session caches.
 * `agent` takes undici Agent options (`keepAliveTimeout`, `connections` …). `onSocket` and `onKeylog` (see
 * TlsSocketHooks) see each TLS socket to an origin, direct or through the proxy's tunnel.
 *
 * @example
 * import { fetch } from "undici";
 * import { createPinnedDispatcher } from "@keypin/node";
 * const dispatcher = createPinnedDispatcher({ policy: "keypin.json" });
 * const res = await fetch("https://api.example.com/", { dispatcher });
 * // a mismatch rejects with TypeError("fetch failed") whose cause.code is "ERR_KEYPIN_PIN_MISMATCH"
 */
export function createPinnedDispatcher(
  options: PinningOptions & TlsSocketHooks & { agent?: Omit<Agent.Options, "connect"> },
): Dispatcher {
  const hooks = socketHooksOf(options);
  const checker = new PinChecker(options);
  const tls = checker.tlsOptions();
  const agentOptions = options.agent ?? {};
  const warn = (message: string): void => checker.warn(message);
  if (options.proxy) {
    const uri = parseProxyUrl(options.proxy).href;
    // undici's ProxyAgent has one connector, and so one TLS session cache keyed by server name alone, for every
    // origin it tunnels to: with `connect.servername` set, a session from a checked handshake with an unpinned origin
    // was resumed for a pinned one, and Node runs no check on a resumed session. One ProxyAgent per origin keeps each
    // origin's sessions (and sockets) to itself.
    // The origin's TLS socket is made here, on the ProxyAgent's tunnel, from the options undici gives a direct
    // connection, server name included: given `requestTls`, the ProxyAgent replaced the server name undici derives
    // from a Host header with the URL's host, and the Host header's pins were never checked (review).
    const factory = hookedTunnelFactory(tls, agentOptions as Record<string, unknown>, hooks ?? {}, warn);
    return guardedDispatcher(
      new Agent({ ...agentOptions, factory: () => new ProxyAgent({ ...agentOptions, uri, factory }) }),
      checker,
    );
  }
  if (hooks) {
    return guardedDispatcher(
      new Agent({
        ...agentOptions,
        factory: hookedDirectFactory(tls, agentOptions as Record<string, unknown>, hooks, warn),
      }),
      checker,
    );
  }
  return guardedDispatcher(new Agent({ ...agentOptions, connect: tls }), checker);
}

/**
 * A dispatch's Host header values, in each form undici takes headers (object, flat array, iterable of pairs), as the
 * strings undici sends: a primitive is coerced as undici coerces it; anything else undici refuses itself.
 */
function hostHeadersOf(headers: unknown): string[] {
  const out: string[] = [];
  const take = (name: unknown, value: unknown): void => {
    if (typeof name !== "string" || name.toLowerCase() !== "host") return;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === "string") out.push(v);
      else if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") out.push(`${v}`);
    }
  };
  if (Array.isArray(headers)) {
    if (headers.every((h) => Array.isArray(h))) for (const [name, value] of headers) take(name, value);
    else for (let i = 0; i + 1 < headers.length; i += 2) take(headers[i], headers[i + 1]);
  } else if (headers !== null && typeof headers === "object") {
    if (typeof (headers as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function") {
      for (const pair of headers as Iterable<unknown>) if (Array.isArray(pair)) take(pair[0], pair[1]);
    } else for (const name of Object.keys(headers)) take(name, (headers as Record<string, unknown>)[name]);
  }
  return out;
}

/** undici's getServerName: the host part of a Host value (up to `]`, or the first colon), "" for an IP address. */
function undiciServerNameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  let name: string;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    name = end < 0 ? host : host.slice(1, end);
  } else {
    const colon = host.indexOf(":");
    name = colon < 0 ? host : host.slice(0, colon);
  }
  return isIP(name) === 0 ? name : "";
}

/**
 * Why a dispatch on a pinned dispatcher must not go out, if it must not. The connection's TLS server name is the one
 * undici derives (lib/core/request.js, lib/core/connect.js): the dispatch's `servername`, else the Host header's name,
 * else `connect.servername`, else the origin's host; never an absolute-form `path`. keypin's check covers that name
 * and the origin's host. A request whose Host header or absolute-form target names a pinned host neither covers would
 * reach a server whose chain was never held to that host's pins (review: `servername` with a Host header; an
 * absolute-form path naming a pinned host on another origin). What names no host keypin can read is refused too.
 */
function dispatchRefusal(opts: Dispatcher.DispatchOptions, checker: PinChecker): KeypinError | undefined {
  let originHost: string;
  let originAuthority: string;
  try {
    const origin = new URL(String(opts.origin));
    originHost = origin.hostname.replace(/^\[|\]$/g, "");
    originAuthority = origin.host;
  } catch {
    return undefined; // undici refuses it itself
  }
  const headers = hostHeadersOf(opts.headers);
  const hosts: string[] = [];
  for (const value of headers) {
    const host = readAuthority(value);
    if (host === null) return unreadableRefused(`the Host header ${clip(value)}`);
    if (host) hosts.push(host);
  }
  const path = typeof opts.path === "string" ? opts.path : "";
  if (path !== "" && !path.startsWith("/") && path !== "*" && opts.method !== "CONNECT") {
    const host = hostOfTarget(path);
    if (host === undefined) return unreadableRefused(`the request target ${clip(path)}`);
    hosts.push(host);
  }
  if (hosts.length === 0) return undefined;
  const asked = (opts as { servername?: unknown }).servername;
  const configured = checker.connect["servername"];
  // undici takes only one Host header (it refuses a second), so the first is the one it derives a name from.
  const servername =
    (typeof asked === "string" && asked) ||
    undiciServerNameOf(headers[0]) ||
    (typeof configured === "string" && configured) ||
    undiciServerNameOf(originAuthority) ||
    undefined;
  const covered = new Set(
    [servername, originHost].map((h) => (h ? checker.domainPolicyOf(asciiHost(h)) : undefined)),
  );
  for (const host of hosts) {
    const policy = checker.domainPolicyOf(asciiHost(host));
    if (!policy || covered.has(policy)) continue;
    return new KeypinError(
      "ERR_KEYPIN_OPTIONS",
      `A request on a pinned dispatcher is addressed to ${host} (its Host header or target), which is pinned, but ` +
        `its connection would be checked for ${servername ?? originHost} only, so ${host}'s pins would never be ` +
        "checked; the request was not sent. Send it to an origin on that host, leave `servername` out (undici " +
        "then connects for the Host header's name) or make it the Host header's name.",
    );
  }
  return undefined;
}

/** `dispatcher` with each dispatch checked by dispatchRefusal first: a refused one fails before any connection. */
function guardedDispatcher(dispatcher: Agent, checker: PinChecker): Dispatcher {
  return dispatcher.compose((dispatch) => (opts, handler) => {
    const refusal = dispatchRefusal(opts, checker);
    if (!refusal) return dispatch(opts, handler);
    const h = handler as {
      onResponseError?: (controller: unknown, error: Error) => void;
      onError?: (error: Error) => void;
    };
    if (typeof h.onResponseError === "function") h.onResponseError(null, refusal);
    else if (typeof h.onError === "function") h.onError(refusal);
    else throw refusal;
    return false;
  });
}
