import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import { KeypinError } from "@keypin/core";
import { Agent, type Dispatcher, ProxyAgent } from "undici";
import { PinChecker, type PinningOptions } from "./pin-checker.js";
import { parseProxyUrl } from "./proxy-tunnel.js";

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
function refuseProxy(options: PinningOptions, api: string): void {
  if (options.proxy === undefined) return;
  throw new KeypinError(
    "ERR_KEYPIN_OPTIONS",
    `\`proxy\` is supported by createPinnedDispatcher only, not by ${api}. With axios, set HTTPS_PROXY (the pins ` +
      "survive its tunnel); otherwise tunnel yourself and pass the socket to tls.connect with these options.",
  );
}

/** An https.Agent whose connections are pinned; its pool and TLS session cache serve only its own policy. */
class PinnedHttpsAgent extends HttpsAgent {
  readonly #checker: PinChecker;

  constructor(checker: PinChecker, agentOptions: HttpsAgentOptions) {
    // The check lives in `options` (not in a method) so that agents copying `agent.options` keep it (axios).
    super({ ...agentOptions, ...checker.tlsOptions() });
    this.#checker = checker;
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
            : // Node resumes a given session without running checkServerIdentity: no hostname check, no pins.
              // The agent adds its own cached sessions after this point, so any session here came from the caller.
              (options as { session?: unknown }).session !== undefined
              ? "a TLS session of its own (resuming it would skip the hostname and pin checks)"
              : undefined;
    if (refused) {
      const error = new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        `A request on a pinned agent asked for ${refused}, which would bypass pinning; the connection was not made.`,
      );
      if (!callback) throw error;
      callback(error, undefined as unknown as Duplex);
      return undefined;
    }
    return super.createConnection(options, callback);
  }
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
export function createPinnedAgent(options: PinningOptions & { agent?: HttpsAgentOptions }): HttpsAgent {
  refuseProxy(options, "createPinnedAgent");
  return new PinnedHttpsAgent(new PinChecker(options), options.agent ?? {});
}

/**
 * An undici (v7) Dispatcher whose every connection is pinned, for `undici.fetch`/`undici.request` (and, on Node
 * 20, the global `fetch`: see the README for what works). Redirects to other origins go through the same
 * dispatcher and are checked too; the policy is chosen by the TLS server name. With `proxy`, an undici ProxyAgent
 * tunnels through HTTP CONNECT and pins the origin. The dispatcher has its own pools and TLS session caches.
 * `agent` takes undici Agent options (`keepAliveTimeout`, `connections` …).
 *
 * @example
 * import { fetch } from "undici";
 * import { createPinnedDispatcher } from "@keypin/node";
 * const dispatcher = createPinnedDispatcher({ policy: "keypin.json" });
 * const res = await fetch("https://api.example.com/", { dispatcher });
 * // a mismatch rejects with TypeError("fetch failed") whose cause.code is "ERR_KEYPIN_PIN_MISMATCH"
 */
export function createPinnedDispatcher(
  options: PinningOptions & { agent?: Omit<Agent.Options, "connect"> },
): Dispatcher {
  const checker = new PinChecker(options);
  const tls = checker.tlsOptions();
  if (options.proxy) {
    const url = parseProxyUrl(options.proxy);
    return new ProxyAgent({ ...(options.agent ?? {}), uri: url.href, requestTls: tls });
  }
  return new Agent({ ...(options.agent ?? {}), connect: tls });
}
