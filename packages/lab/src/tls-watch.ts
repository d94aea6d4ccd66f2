// How the lab watches its app's own TLS sockets. Node gives a client's key log lines (`keylog`) and the peer's
// certificates only on the TLSSocket, which undici makes inside @keypin/node's dispatcher and hands out after the
// handshake, too late for the handshake's key log lines (and never on a refused handshake). So, while an app
// request is in flight, `tls.connect` is wrapped: the wrapper calls Node's own function with the same arguments,
// unchanged, and hands the socket it returns to the watcher whose marker is the socket's `lookup` option (each
// app request passes a name-resolution function of its own), before any byte of the handshake is read.
// Sockets of anyone else in the process are not touched. The wrapper is removed when no request is watched.

import { createRequire } from "node:module";
import type * as tls from "node:tls";

type Connect = typeof tls.connect;

// The CommonJS exports object of node:tls: the one undici's connector calls `connect` on.
const tlsModule = createRequire(import.meta.url)("node:tls") as { connect: Connect };
const watchers = new Map<unknown, (socket: tls.TLSSocket) => void>();
let original: Connect | undefined;

function optionsOf(args: unknown[]): { lookup?: unknown } | undefined {
  for (const arg of args) {
    if (typeof arg === "object" && arg !== null) return arg as { lookup?: unknown };
  }
  return undefined;
}

/**
 * Calls `onSocket` with every TLS socket made by `tls.connect` with `{ lookup: marker }` until the returned
 * function is called.
 *
 * @example
 * const stop = watchAppSockets(lookup, (socket) => socket.on("keylog", (line) => out.write(line)));
 * try { await request(); } finally { stop(); }
 */
export function watchAppSockets(marker: unknown, onSocket: (socket: tls.TLSSocket) => void): () => void {
  if (!original) {
    const connect = tlsModule.connect;
    original = connect;
    tlsModule.connect = function watchedConnect(this: unknown, ...args: unknown[]): tls.TLSSocket {
      const socket = (connect as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
      const watcher = watchers.get(optionsOf(args)?.lookup);
      watcher?.(socket);
      return socket;
    } as Connect;
  }
  watchers.set(marker, onSocket);
  return () => {
    watchers.delete(marker);
    if (watchers.size === 0 && original) {
      tlsModule.connect = original;
      original = undefined;
    }
  };
}
