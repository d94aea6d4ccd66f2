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
import { CheckedConnection, hostOfAuthority, PinChecker, type PinningOptions } from "./pin-checker.js";

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
      const url = typeof origin === "string" ? new URL(origin) : origin;
      return super.getSession(origin, { ...own, [ORIGIN]: url.origin }, listeners);
    }

    override normalizeOptions(options?: object): string {
      const origin = (options as Record<string, unknown> | undefined)?.[ORIGIN];
      return `${typeof origin === "string" ? origin : ""}${super.normalizeOptions(options)}`;
    }

    /**
     * The pinned TLS connection for one h2 session, to the origin's host as http2-wrapper connects (it derives the
     * origin from the server name, so from a Host header). When the request's URL names another host with its own
     * policy, that host's pins must match too, as on HTTP/1.1.
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
      const tls = checker.tlsOptions();
      return tlsConnect({
        ...own,
        ...tls,
        host,
        port,
        ...(servername !== undefined ? { servername } : {}),
        session: session instanceof Buffer ? session : undefined,
        ALPNProtocols: ["h2"],
        checkServerIdentity(this: unknown, hostname: string, cert: PeerCertificate) {
          const error = checker.checkServerIdentity.call(this, hostname, cert);
          if (error || urlHost === undefined || urlHost.toLowerCase() === host.toLowerCase()) return error;
          return checker.checkServerIdentity.call({ host: urlHost, port }, hostname, cert);
        },
      } as ConnectionOptions);
    }
  };
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

/** The hosts an HTTP/2 request's headers address it to: `:authority` and any `host` header, in any letter case. */
function authoritiesOf(headers: OutgoingHttpHeaders | undefined): string[] {
  const out: string[] = [];
  if (headers === null || typeof headers !== "object") return out;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower !== ":authority" && lower !== "host") continue;
    const value = headers[name];
    for (const v of Array.isArray(value) ? value : [value]) {
      const host = hostOfAuthority(typeof v === "string" ? v : undefined);
      if (host) out.push(host);
    }
  }
  return out;
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
    for (const name of authoritiesOf(headers)) {
      const error = checker.checkHostOn(record, name);
      if (error) throw error;
    }
    return request.call(this, headers, requestOptions);
  } as typeof session.request;
  return session;
}
