import type { TLSSocket } from "node:tls";
import { KeypinError } from "@keypin/core";
import { buildConnector, Client, type Dispatcher, Pool } from "undici";
import { describeThrown } from "./errors.js";

/**
 * Hooks on the TLS sockets a pinned agent or dispatcher opens, for debugging (an SSLKEYLOGFILE, a packet capture
 * decrypted in Wireshark) and for tools that show the handshake. They cannot change a verdict: keypin's pin check
 * runs on every full handshake whatever they do, and what they throw is turned into a warning (`onWarning`).
 *
 * @example
 * import { openSync, writeSync } from "node:fs";
 * const keylog = openSync("keys.log", "a", 0o600); // the lines are secrets: keep the file private
 * const dispatcher = createPinnedDispatcher({ policy: "keypin.json", onKeylog: (line) => writeSync(keylog, line) });
 */
export interface TlsSocketHooks {
  /**
   * Called with each TLS socket right after it is created, before its handshake, and before keypin's own
   * listeners on it (undici's connector has attached its own). Listeners added here see the whole handshake
   * (`socket.prependListener("secure", …)` runs before Node's certificate and pin checks). It must not change
   * what the socket reports of its peer: keypin checks the certificates the socket gives it (and on Node 20,
   * `getPeerX509Certificate` empties the chain `getPeerCertificate` gives afterwards: use `getPeerCertificate(true)`).
   */
  onSocket?: (socket: TLSSocket) => void;
  /**
   * Called with every key log line of every TLS session (NSS key log format, one line ending in "\n", as Node's
   * TLSSocket `keylog` event gives it), a refused handshake's too. The lines are the session's secrets, asked for
   * by you: whoever reads them decrypts the traffic. Keep them out of logs and errors; keypin never logs them.
   */
  onKeylog?: (line: Buffer, socket: TLSSocket) => void;
}

/** The hooks given, checked (each a function or absent); undefined when there are none. */
export function socketHooksOf(options: TlsSocketHooks): TlsSocketHooks | undefined {
  const { onSocket, onKeylog } = options;
  for (const [name, hook] of [
    ["onSocket", onSocket],
    ["onKeylog", onKeylog],
  ] as const) {
    if (hook !== undefined && typeof hook !== "function") {
      throw new KeypinError(
        "ERR_KEYPIN_OPTIONS",
        `Expected \`${name}\` to be a function but got ${typeof hook}.`,
      );
    }
  }
  if (!onSocket && !onKeylog) return undefined;
  return { ...(onSocket ? { onSocket } : {}), ...(onKeylog ? { onKeylog } : {}) };
}

/** Runs the hooks on a new TLS socket; what they throw becomes a warning (no line, no secret in it). */
export function attachSocketHooks(
  socket: TLSSocket,
  hooks: TlsSocketHooks,
  warn: (message: string) => void,
): void {
  const { onSocket, onKeylog } = hooks;
  if (onSocket) {
    try {
      onSocket(socket);
    } catch (error) {
      warn(`keypin: onSocket threw (${describeThrown(error)}); the connection goes on, checked as always.`);
    }
  }
  if (onKeylog) {
    let warned = false;
    socket.on("keylog", (line: Buffer) => {
      try {
        onKeylog(line, socket);
      } catch (error) {
        if (warned) return;
        warned = true;
        warn(`keypin: onKeylog threw (${describeThrown(error)}); the connection goes on, checked as always.`);
      }
    });
  }
}

type Connect = buildConnector.connector;
type ConnectOptions = buildConnector.Options;

/** A connector (undici's own, on `tls`) that runs the hooks on each TLS socket it makes. */
function hookedConnector(
  tls: Record<string, unknown>,
  hooks: TlsSocketHooks,
  warn: (message: string) => void,
): Connect {
  const connect = buildConnector(tls as buildConnector.BuildOptions);
  return (options, callback) => {
    // undici's connector returns the socket it made (its type says void), synchronously, before any handshake byte
    // has been read.
    const socket = (connect as unknown as (o: ConnectOptions, c: buildConnector.Callback) => unknown)(
      options,
      callback,
    );
    if (options.protocol === "https:" && socket) attachSocketHooks(socket as TLSSocket, hooks, warn);
  };
}

/**
 * The connector options an undici Pool would build from `tls` and the agent options (undici 7's pool.js): the same
 * TLS options, session cache size, timeout and family selection as without hooks.
 */
function connectorOptions(
  tls: Record<string, unknown>,
  agent: Record<string, unknown>,
): Record<string, unknown> {
  const {
    maxCachedSessions,
    allowH2,
    socketPath,
    connectTimeout,
    autoSelectFamily,
    autoSelectFamilyAttemptTimeout,
  } = agent;
  return {
    maxCachedSessions,
    allowH2,
    socketPath,
    timeout: connectTimeout,
    ...(typeof autoSelectFamily === "boolean" ? { autoSelectFamily, autoSelectFamilyAttemptTimeout } : {}),
    ...tls,
  };
}

/** undici's default per-origin dispatcher, connecting with `connect`. */
function originDispatcher(
  origin: URL | string,
  options: Record<string, unknown>,
  connect: unknown,
): Dispatcher {
  const own = { ...options, connect } as Pool.Options;
  return options["connections"] === 1 ? new Client(origin, own) : new Pool(origin, own);
}

/**
 * An undici Agent `factory` whose origins connect directly with a hooked connector of their own (one TLS session
 * cache per origin, as undici's pools have).
 */
export function hookedDirectFactory(
  tls: Record<string, unknown>,
  agent: Record<string, unknown>,
  hooks: TlsSocketHooks,
  warn: (message: string) => void,
): (origin: URL | string, options: Record<string, unknown>) => Dispatcher {
  return (origin, options) =>
    originDispatcher(origin, options, hookedConnector(connectorOptions(tls, agent), hooks, warn));
}

/**
 * A ProxyAgent `factory` whose origins get their TCP tunnel from the ProxyAgent (its CONNECT, proxy headers and
 * errors, asked for as a plain-TCP tunnel) and then their TLS, on that tunnel, from a hooked connector of their own.
 */
export function hookedTunnelFactory(
  tls: Record<string, unknown>,
  agent: Record<string, unknown>,
  hooks: TlsSocketHooks,
  warn: (message: string) => void,
): (origin: URL | string, options: Record<string, unknown>) => Dispatcher {
  return (origin, options) => {
    const tunnel = options["connect"] as Connect;
    const overTls = hookedConnector(connectorOptions(tls, agent), hooks, warn);
    const connect: Connect = (params, callback) => {
      if (params.protocol !== "https:") {
        tunnel(params, callback);
        return;
      }
      // The ProxyAgent spells the CONNECT target from `host`, adding the default port of `protocol` only when `port`
      // is empty: the TLS origin's port is written out so that the tunnel goes to it, not to port 80.
      const port = params.port || "443";
      const host = params.port ? params.host : `${params.host}:443`;
      tunnel({ ...params, protocol: "http:", host, port } as ConnectOptions, (error, socket) => {
        if (error || !socket) {
          callback(error ?? new Error("The proxy gave no tunnel."), null);
          return;
        }
        overTls({ ...params, httpSocket: socket } as ConnectOptions, callback);
      });
    };
    return originDispatcher(origin, options, connect);
  };
}
