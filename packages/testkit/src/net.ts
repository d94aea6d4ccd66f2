// Sockets for tests: a resolver sending every name to 127.0.0.1, servers that close cleanly.
import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingHttpHeaders,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as connectTcp, type Server, type Socket } from "node:net";

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

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestServer {
  port: number;
  requests: RecordedRequest[];
  /** TCP connections accepted. */
  connections: number;
  /** The underlying server (for `upgrade` listeners such as ws). */
  server: HttpServer;
  close: () => Promise<void>;
}

type Handler = (req: RecordedRequest, res: import("node:http").ServerResponse) => void;

const defaultHandler: Handler = (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ ok: true, path: req.url }));
};

async function serve(server: HttpServer, handler: Handler): Promise<TestServer> {
  const result: TestServer = { port: 0, requests: [], connections: 0, server, close: async () => {} };
  server.on("connection", () => {
    result.connections++;
  });
  server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      result.requests.push(recorded);
      handler(recorded, res);
    });
  });
  result.close = trackSockets(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  result.port = (server.address() as { port: number }).port;
  return result;
}

/** An HTTPS server on 127.0.0.1 serving `certPem` (leaf first, then intermediates). */
export function startHttpsServer(options: {
  key: string;
  cert: string;
  handler?: Handler;
}): Promise<TestServer> {
  const server = createHttpsServer({ key: options.key, cert: options.cert });
  // Upgrade requests (ws) are handled by the caller through `server`; plain requests here.
  return serve(server as unknown as HttpServer, options.handler ?? defaultHandler);
}

/** A plain HTTP server (report collectors, a not-TLS port). */
export function startHttpServer(handler?: Handler): Promise<TestServer> {
  return serve(createHttpServer(), handler ?? defaultHandler);
}

/**
 * An honest HTTP CONNECT proxy that forwards every tunnel to 127.0.0.1 (whatever name was asked for), counting
 * tunnels.
 */
export async function startConnectProxy(): Promise<{
  url: string;
  tunnels: string[];
  close: () => Promise<void>;
}> {
  const server = createHttpServer();
  const tunnels: string[] = [];
  server.on("connect", (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? "");
    const port = Number(new URL(`http://${req.url}`).port);
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
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, tunnels, close };
}
