// Honest HTTP CONNECT proxies (a corporate proxy that never looks inside the tunnel), and one that refuses.
// The intercepting (forging) proxy is ./forging-proxy.ts.
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { connect as connectTcp, type Socket } from "node:net";
import { listenLocal, splitAuthority, trackSockets } from "./net.js";
import type { RunningServer } from "./servers.js";

export interface ConnectProxy extends RunningServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The CONNECT targets asked for ("host:port"), in order. */
  tunnels: string[];
}

/**
 * A CONNECT proxy that forwards every tunnel untouched to 127.0.0.1 (whatever name was asked for) on the port asked
 * for, recording the targets.
 */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  const tunnels: string[] = [];
  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? "");
    const [, port] = splitAuthority(req.url ?? "");
    const upstream = connectTcp({ host: "127.0.0.1", port }, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
  });
  const close = trackSockets(server);
  const port = await listenLocal(server);
  return { url: `http://127.0.0.1:${port}`, port, tunnels, close };
}

/** An HTTP proxy that refuses every CONNECT with 403. */
export async function startRefusingProxy(): Promise<RunningServer> {
  const server = createHttpServer((_req, res) => res.writeHead(403).end());
  server.on("connect", (_req: IncomingMessage, socket: Socket) => {
    socket.on("error", () => {});
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });
  const close = trackSockets(server);
  return { port: await listenLocal(server), close };
}
