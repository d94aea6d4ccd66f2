// Sockets for tests: a resolver sending every name to 127.0.0.1, servers that close cleanly, ports.
import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import { type AddressInfo, connect as connectTcp, createServer, type Server, type Socket } from "node:net";

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for tls.connect/undici/https.Agent that resolves every name to 127.0.0.1. */
export function lookupLocal(
  _hostname: string,
  options: { all?: boolean } | LookupCallback,
  callback?: LookupCallback,
): void {
  const cb = (typeof options === "function" ? options : callback)!;
  const all = typeof options === "object" && options.all;
  if (all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
  else cb(null, "127.0.0.1", 4);
}

/** Tracks a server's sockets so `close` ends everything (the test runner must exit). */
export function trackSockets(server: Server): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return async () => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  };
}

/** Listens on 127.0.0.1, port 0; resolves with the port. */
export async function listenLocal(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** A port on 127.0.0.1 where nothing listens (bound, then released; free a moment ago). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  const port = await listenLocal(server);
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port, false when it is refused. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") resolve(false);
      else reject(error);
    });
  });
}

/** The port of "127.0.0.1:1234" or "http://127.0.0.1:1234". */
export function portOf(address: string): number {
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${address}`);
  return port;
}

/** Host and port of a CONNECT authority ("host:port", "[::1]:port"); 443 when there is no port. */
export function splitAuthority(authority: string): [string, number] {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(authority);
  return match ? [match[1]!, Number(match[2])] : [authority, 443];
}
