import type { ClientRequest } from "node:http";
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { KeypinError } from "@keypin/core";
import { Agent, type Dispatcher, ProxyAgent } from "undici";
import { PinChecker, type PinningOptions } from "./pin-checker.js";
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
  readonly #sessions: SessionCache;
  readonly #hooks: TlsSocketHooks | undefined;

  constructor(checker: PinChecker, agentOptions: HttpsAgentOptions, hooks?: TlsSocketHooks) {
    const maxCachedSessions = agentOptions.maxCachedSessions ?? 100;
    // The check lives in `options` (not in a method) so that agents copying `agent.options` keep it (axios). Node's
    // cache is off (this class keeps its own); `options.session` is own and undefined, so a request's session (refused
    // in addRequest) and a polluted prototype's never reach tls.connect, in this agent or in a copy of its options.
    super({ ...agentOptions, ...checker.tlsOptions(), maxCachedSessions: 0, session: undefined });
    this.#checker = checker;
    this.#sessions = new SessionCache(maxCachedSessions);
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
    const key = sessionKeyOf(options);
    const socket = super.createConnection(
      { ...options, session: this.#sessions.get(key) } as RequestOptions,
      callback,
    ) as TLSSocket | null | undefined;
    const sessions = this.#sessions;
    if (socket) {
      if (this.#hooks) attachSocketHooks(socket, this.#hooks, (message) => this.#checker.warn(message));
      socket.on("session", (session: Buffer) => sessions.set(key, session));
      socket.once("close", (hadError: boolean) => {
        if (hadError) sessions.delete(key);
      });
    }
    return socket;
  }
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
    return new Agent({ ...agentOptions, factory: () => new ProxyAgent({ ...agentOptions, uri, factory }) });
  }
  if (hooks) {
    return new Agent({
      ...agentOptions,
      factory: hookedDirectFactory(tls, agentOptions as Record<string, unknown>, hooks, warn),
    });
  }
  return new Agent({ ...agentOptions, connect: tls });
}
