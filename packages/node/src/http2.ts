// HTTP/2 for got: http2-wrapper (got's HTTP/2 layer) negotiates h2 with its own agent and never uses an https.Agent,
// so a pinned https.Agent alone leaves every h2 request unpinned. This module gives got a pinned HTTP/2 agent, built on
// the http2-wrapper the caller passes in (no runtime dependency of @keypin/node), or one that refuses loudly.

import {
  type ClientHttp2Session,
  type ClientSessionRequestOptions,
  connect as http2Connect,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from "node:http2";
import type { Agent as HttpsAgent, AgentOptions as HttpsAgentOptions } from "node:https";
import { isIP } from "node:net";
import {
  type ConnectionOptions,
  type PeerCertificate,
  type TLSSocket,
  checkServerIdentity as tlsCheckServerIdentity,
  connect as tlsConnect,
} from "node:tls";
import { KeypinError } from "@keypin/core";
import { pinnedHttpsAgentOf, refuseProxy } from "./clients.js";
import { PinCheckError } from "./errors.js";
import { CheckedConnection, PinChecker, type PinningOptions, readAuthority } from "./pin-checker.js";

/** What keypin uses of an http2-wrapper `Agent` instance (http2-wrapper 2.x). */
export interface Http2WrapperAgent {
  getSession(origin: string | URL, options?: object, listeners?: unknown): Promise<unknown>;
  normalizeOptions(options?: object): string;
  createConnection(origin: URL, options: object): Promise<TLSSocket> | TLSSocket;
  destroy(reason?: Error): void;
}

/** The `http2-wrapper` module (`import http2wrapper from "http2-wrapper"`): keypin subclasses its `Agent`. */
export interface Http2Wrapper {
  Agent: new (options?: Record<string, unknown>) => Http2WrapperAgent;
}

/** An options key http2-wrapper never reads: the origin a session is for, made part of its pool key. */
const ORIGIN = "keypinOrigin";

/** What each pinned TLS socket of an agent was checked for, read back from the session made on it. */
const RECORD: unique symbol = Symbol("keypin checked connection");

/** The sessions whose `request` already checks each stream. */
const guardedSessions = new WeakSet<object>();

function refusal(what: string): KeypinError {
  return new KeypinError(
    "ERR_KEYPIN_OPTIONS",
    `An HTTP/2 request on a pinned agent asked for ${what}, which would bypass pinning; the connection was not made.`,
  );
}

/** What in a request's options would bypass the pinned connection, if anything. */
function bypassIn(options: Record<string, unknown>, checker: PinChecker): string | undefined {
  if (options["rejectUnauthorized"] === false) return "rejectUnauthorized: false";
  const check = options["checkServerIdentity"];
  // got passes Node's own check when none is set; keypin's check runs Node's first.
  if (check !== undefined && check !== tlsCheckServerIdentity && check !== checker.checkServerIdentity)
    return "another checkServerIdentity";
  if (options["secureContext"] !== undefined && options["secureContext"] !== checker.secureContext)
    return "another secureContext";
  if (options["session"] !== undefined)
    return "a TLS session of its own (resuming it would skip the hostname and pin checks)";
  if (options["createConnection"] !== undefined) return "a createConnection of its own";
  return undefined;
}

function pinnedHttp2AgentClass(http2wrapper: Http2Wrapper) {
  const Base = http2wrapper.Agent;
  if (typeof Base !== "function") {
    throw new KeypinError(
      "ERR_KEYPIN_OPTIONS",
      "Expected `http2wrapper` to be the http2-wrapper module (with its Agent class), as in " +
        '`import http2wrapper from "http2-wrapper"`.',
    );
  }
  return class PinnedHttp2Agent extends Base {
    readonly #checker: PinChecker;

    constructor(checker: PinChecker, agentOptions: Record<string, unknown>) {
      super(agentOptions);
      this.#checker = checker;
    }

    /**
     * http2-wrapper pools sessions by options and then reuses a session for any origin in its origin set (RFC 8336
     * ORIGIN frames, filtered only by the certificate's names): a session checked for one origin would serve another,
     * unchecked. The origin joins the pool key, so a session serves the origin it was checked for only.
     */
    override getSession(origin: string | URL, options?: object, listeners?: unknown): Promise<unknown> {
      const own = (options ?? {}) as Record<string, unknown>;
      const bypass = bypassIn(own, this.#checker);
      if (bypass) {
        const error = refusal(bypass);
        if (Array.isArray(listeners) && listeners.length > 0) {
          for (const listener of listeners as { reject: (e: Error) => void }[]) listener.reject(error);
          return Promise.resolve(undefined);
        }
        return Promise.reject(error);
      }
      if (!Array.isArray(listeners)) {
        return new Promise((resolve, reject) => {
          void this.getSession(origin, options, [{ resolve, reject }]);
        });
      }
      // Each session handed out checks every stream's :authority and host header on the chain its TLS connection was
      // checked for: http2-wrapper pools sessions by origin, so a request for an unpinned origin addressed to a
      // pinned host (its `:authority` or `host` header), or one on a session opened by another request, would
      // otherwise go out on a chain never held to that host's pins (review: http2-wrapper `:authority`).
      const checker = this.#checker;
      const guarded = (listeners as { resolve: (s: unknown) => void; reject: (e: Error) => void }[]).map(
        (listener) => ({
          reject: (error: Error) => listener.reject(error),
          resolve: (session: unknown) => {
            const error = guardSession(session as ClientHttp2Session, checker);
            if (error) listener.reject(error);
            else listener.resolve(session);
          },
        }),
      );
      const url = typeof origin === "string" ? new URL(origin) : origin;
      return super.getSession(origin, { ...own, [ORIGIN]: url.origin }, guarded);
    }

    override normalizeOptions(options?: object): string {
      const origin = (options as Record<string, unknown> | undefined)?.[ORIGIN];
      return `${typeof origin === "string" ? origin : ""}${super.normalizeOptions(options)}`;
    }

    /**
     * The pinned TLS connection for one h2 session, to the origin's host as http2-wrapper connects (it derives the
     * origin from the server name, so from a Host header). When the request's URL names another host with its own
     * policy, that host's pins must match too, as on HTTP/1.1. What the connection was checked for is kept on the
     * socket (for the session's stream checks) and with the TLS sessions it yields: one is resumed only with the
     * record of the checked handshake it came from.
     */
    override createConnection(origin: URL, options: object): TLSSocket {
      const own = options as Record<string, unknown>;
      const checker = this.#checker;
      const host = origin.hostname.replace(/^\[|\]$/g, "");
      const port = Number(origin.port || 443);
      const urlHost = typeof own["host"] === "string" ? own["host"] : undefined;
      const servername = typeof own["servername"] === "string" ? own["servername"] : undefined;
      // The agent's own cached session for this origin (from a checked handshake), as an own property.
      const session = own["session"];
      const offered = session instanceof Buffer ? checkedSessions.get(session) : undefined;
      const record = new CheckedConnection(port);
      const check = checker.checkServerIdentityFor(record);
      const tls = checker.tlsOptions();
      const socket = tlsConnect({
        ...own,
        ...tls,
        host,
        port,
        ...(servername !== undefined ? { servername } : {}),
        session: offered ? session : undefined,
        ALPNProtocols: ["h2"],
        checkServerIdentity(this: unknown, hostname: string, cert: PeerCertificate) {
          const error = check.call(this, hostname, cert);
          if (error || urlHost === undefined) return error;
          return checker.checkHostOn(record, urlHost);
        },
      } as ConnectionOptions);
      (socket as unknown as Record<symbol, CheckedConnection>)[RECORD] = record;
      // Node runs no check on a resumed session (after its own 'secure' listener, in the same event, before the
      // HTTP/2 session is set up): the connection inherits what the session's handshake was checked for, and is
      // checked on that handshake's chain for its server name, its host and the URL's host.
      socket.on("secure", () => {
        if (socket.destroyed || !socket.isSessionReused()) return;
        let error = offered
          ? checker.resumeOn(record, offered)
          : new PinCheckError("a resumed TLS session", "keypin offered none");
        for (const name of [servername, host, urlHost]) {
          if (error) break;
          if (name) error = checker.checkHostOn(record, name);
        }
        if (error) socket.destroy(error);
      });
      socket.on("session", (tlsSession: Buffer) => {
        if (record.chain !== undefined) checkedSessions.set(tlsSession, record);
      });
      return socket;
    }
  };
}

/** The checked connection each TLS session an agent's connection yielded came from. */
const checkedSessions = new WeakMap<Buffer, CheckedConnection>();

/**
 * Makes `session.request` check each stream's `:authority` and `host` header on the chain the session's TLS
 * connection was checked for (as connectPinnedHttp2 does), once per session; an Error when the session was not made on
 * a pinned connection of the agent (it is not handed out).
 */
function guardSession(session: ClientHttp2Session, checker: PinChecker): Error | undefined {
  if (guardedSessions.has(session)) return undefined;
  let record: CheckedConnection | undefined;
  try {
    record = (session.socket as unknown as Record<symbol, CheckedConnection | undefined>)[RECORD];
  } catch {
    record = undefined; // the session has no socket any more
  }
  if (!(record instanceof CheckedConnection))
    return refusal("a session keypin did not make (its streams could not be checked)");
  const request = session.request;
  session.request = function keypinCheckedRequest(
    this: ClientHttp2Session,
    headers?: OutgoingHttpHeaders,
    requestOptions?: ClientSessionRequestOptions,
  ) {
    checkAuthorities(headers, record, checker);
    return request.call(this, headers, requestOptions);
  } as typeof session.request;
  guardedSessions.add(session);
  return undefined;
}
/**
 * An http2-wrapper Agent whose every HTTP/2 connection is pinned, for got's `agent.http2` (or http2-wrapper's own
 * `request`). Pass the http2-wrapper module your got uses: @keypin/node does not depend on it. Each session is
 * pooled for the origin it was checked for only (no RFC 8336 coalescing), resumes only TLS sessions from its own
 * checked handshakes, and a request asking for `rejectUnauthorized: false`, another `checkServerIdentity` or
 * `secureContext`, a TLS `session` or a `createConnection` of its own is refused. `agent` takes http2-wrapper
 * Agent options (`timeout`, `maxSessions` …). got's `h2session` option bypasses every agent: do not use it.
 *
 * @example
 * import got from "got";
 * import http2wrapper from "http2-wrapper";
 * import { createPinnedHttp2Agent } from "@keypin/node";
 * const http2 = createPinnedHttp2Agent({ policy: "keypin.json", http2wrapper });
 * await got("https://api.example.com/", { http2: true, agent: { http2 } });
 */
export function createPinnedHttp2Agent(
  options: PinningOptions & { http2wrapper: Http2Wrapper; agent?: Record<string, unknown> },
): Http2WrapperAgent {
  refuseProxy(options, "createPinnedHttp2Agent");
  const PinnedHttp2Agent = pinnedHttp2AgentClass(options.http2wrapper);
  return new PinnedHttp2Agent(new PinChecker(options), options.agent ?? {});
}

/**
 * An HTTP/2 agent that refuses every request, loudly: got with `http2: true` and no pinned HTTP/2 agent would
 * otherwise use http2-wrapper's global agent, unpinned. It has the shape got and http2-wrapper look for.
 */
function refusingHttp2Agent(): Http2WrapperAgent & {
  protocol: string;
  defaultPort: number;
  request: () => Promise<never>;
} {
  const refuse = (): KeypinError =>
    new KeypinError(
      "ERR_KEYPIN_OPTIONS",
      "The server offered HTTP/2 and got would speak it through an agent keypin has not pinned. Pass the " +
        "http2-wrapper module: createPinnedGotAgents({ policy, http2wrapper }) (import http2wrapper from " +
        '"http2-wrapper"), or turn got\'s `http2` option off. No request was sent.',
    );
  return {
    protocol: "https:",
    defaultPort: 443,
    request: () => Promise.reject(refuse()),
    getSession: () => Promise.reject(refuse()),
    normalizeOptions: () => "",
    createConnection: () => {
      throw refuse();
    },
    destroy: () => {},
  };
}

/**
 * got's `agent` option with every protocol got can speak over TLS pinned: `https` (HTTP/1.1, as createPinnedAgent)
 * and `http2`. With `http2wrapper` (the http2-wrapper module got uses), HTTP/2 is pinned as createPinnedHttp2Agent;
 * without it, a request that got would send over HTTP/2 (`http2: true` and a server offering h2) fails with
 * `ERR_KEYPIN_OPTIONS` before any request byte is written. Both agents share one pin check (one report state).
 *
 * @example
 * import got from "got";
 * import http2wrapper from "http2-wrapper";
 * import { createPinnedGotAgents } from "@keypin/node";
 * const client = got.extend({ http2: true, agent: createPinnedGotAgents({ policy: "keypin.json", http2wrapper }) });
 */
export function createPinnedGotAgents(
  options: PinningOptions & {
    http2wrapper?: Http2Wrapper;
    agent?: HttpsAgentOptions;
    http2Agent?: Record<string, unknown>;
  },
): { https: HttpsAgent; http2: Http2WrapperAgent } {
  refuseProxy(options, "createPinnedGotAgents");
  const checker = new PinChecker(options);
  const https = pinnedHttpsAgentOf(checker, options.agent ?? {});
  if (!options.http2wrapper) return { https, http2: refusingHttp2Agent() };
  const PinnedHttp2Agent = pinnedHttp2AgentClass(options.http2wrapper);
  return { https, http2: new PinnedHttp2Agent(checker, options.http2Agent ?? {}) };
}

/**
 * Checks the hosts an HTTP/2 request's headers address it to (`:authority` and any `host` header, in any letter case)
 * on `record`'s chain, and throws before anything of it is sent: PinMismatchError for a pinned host whose pins the
 * chain lacks, ERR_KEYPIN_OPTIONS for a value that names no host keypin can read (a server might read one from it).
 */
function checkAuthorities(
  headers: OutgoingHttpHeaders | undefined,
  record: CheckedConnection,
  checker: PinChecker,
): void {
  if (headers === null || typeof headers !== "object") return;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower !== ":authority" && lower !== "host") continue;
    const value = headers[name];
    for (const v of Array.isArray(value) ? value : [value]) {
      const host = readAuthority(typeof v === "number" ? String(v) : v);
      if (host === null) {
        throw new KeypinError(
          "ERR_KEYPIN_OPTIONS",
          `An HTTP/2 request on a pinned session has a ${lower} of ${JSON.stringify(String(v)).slice(0, 80)}, which ` +
            "names no host keypin can read; a server might still read a pinned host from it, so it was not sent.",
        );
      }
      if (!host) continue;
      const error = checker.checkHostOn(record, host);
      if (error) throw error;
    }
  }
}

/** node:http2 session options keypin sets itself, or that would replace its TLS connection. */
const OWN_HTTP2_OPTIONS = ["createConnection", "checkServerIdentity", "secureContext", "ca", "session"];

/**
 * `http2.connect` with the session pinned and every request on it checked for the host it is addressed to. Spreading
 * `pinnedTlsOptions` into `http2.connect` pins the session's own host only: a request with another `:authority` (or
 * `host` header) goes to that host over a session whose chain was never held to its pins. Here `session.request`
 * checks each request's `:authority` and `host` against the session's verified chain first: one naming a pinned host
 * whose pins the chain lacks throws PinMismatchError and nothing of it is sent (asked while the session is still
 * handshaking, the check runs at the handshake, which then fails the session and its streams). `http2` takes
 * node:http2 session options (`settings`, `peerMaxConcurrentStreams` …; `lookup`, `servername`, `minVersion` … go in
 * `connect`). The session resumes no TLS session.
 *
 * @example
 * import { connectPinnedHttp2 } from "@keypin/node";
 * const session = connectPinnedHttp2("https://api.example.com", { policy: "keypin.json" });
 * const stream = session.request({ ":path": "/" });
 * stream.on("error", (error) => console.error(error)); // cause code "ERR_KEYPIN_PIN_MISMATCH" on a mismatch
 */
export function connectPinnedHttp2(
  authority: string | URL,
  options: PinningOptions & { http2?: Omit<SecureClientSessionOptions, "createConnection"> },
): ClientHttp2Session {
  refuseProxy(options, "connectPinnedHttp2");
  const extra = (options.http2 ?? {}) as Record<string, unknown>;
  for (const name of OWN_HTTP2_OPTIONS) {
    if (Object.hasOwn(extra, name) && extra[name] !== undefined) {
      throw new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        `\`http2.${name}\` is not accepted: keypin makes the session's TLS connection (give TLS options in \`connect\`).`,
      );
    }
  }
  const checker = new PinChecker(options);
  const url = typeof authority === "string" ? new URL(authority) : authority;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  const record = new CheckedConnection(port);
  const tls = checker.tlsOptions();
  const servername = typeof tls["servername"] === "string" ? tls["servername"] : undefined;
  const session = http2Connect(url, {
    ...extra,
    createConnection: () =>
      tlsConnect({
        ...tls,
        host,
        port,
        ...(servername !== undefined ? { servername } : isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ["h2"],
        checkServerIdentity: checker.checkServerIdentityFor(record),
      } as ConnectionOptions),
  });
  const request = session.request;
  session.request = function keypinCheckedRequest(
    this: ClientHttp2Session,
    headers?: OutgoingHttpHeaders,
    requestOptions?: ClientSessionRequestOptions,
  ) {
    checkAuthorities(headers, record, checker);
    return request.call(this, headers, requestOptions);
  } as typeof session.request;
  return session;
}
