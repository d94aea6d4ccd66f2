// Servers on 127.0.0.1, port 0: HTTPS servers that record requests and count connections, full handshakes and
// resumed sessions; a plain HTTP server; and servers that misbehave on purpose (silent, not TLS).
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingHttpHeaders,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer } from "node:net";
import type { SecureVersion, TLSSocket } from "node:tls";
import { listenLocal, trackSockets } from "./net.js";

/** A running server and how to stop it (every socket it holds is destroyed). */
export interface RunningServer {
  port: number;
  close: () => Promise<void>;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestServer extends RunningServer {
  requests: RecordedRequest[];
  /** TCP connections accepted. */
  connections: number;
  /** TLS handshakes that completed in full (HTTPS servers). */
  handshakes: number;
  /** TLS handshakes that resumed a session (HTTPS servers). */
  resumptions: number;
  /** The underlying server (for `upgrade` listeners such as ws). */
  server: HttpServer;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void;

const defaultHandler: Handler = (req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ ok: true, path: req.url }));
};

/** A handler answering every request with `hello\n` (text/plain) and closing the connection. */
export const answerHello: Handler = (_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", connection: "close" });
  res.end("hello\n");
};

async function serve(server: HttpServer, handler: Handler): Promise<TestServer> {
  const result: TestServer = {
    port: 0,
    requests: [],
    connections: 0,
    handshakes: 0,
    resumptions: 0,
    server,
    close: async () => {},
  };
  server.on("connection", () => {
    result.connections++;
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.isSessionReused()) result.resumptions++;
    else result.handshakes++;
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
  result.port = await listenLocal(server);
  return result;
}

/** An HTTPS server on 127.0.0.1 serving `cert` (PEM: leaf first, then intermediates) with `key`. */
export function startHttpsServer(options: {
  key: string;
  cert: string;
  handler?: Handler;
  /** The highest TLS version it speaks (sessions resume differently in 1.2 and 1.3). */
  maxVersion?: SecureVersion;
}): Promise<TestServer> {
  const tls = {
    key: options.key,
    cert: options.cert,
    ...(options.maxVersion && { maxVersion: options.maxVersion }),
  };
  const server = createHttpsServer(tls);
  // Upgrade requests (ws) are handled by the caller through `server`; plain requests here.
  return serve(server as unknown as HttpServer, options.handler ?? defaultHandler);
}

/** A plain HTTP server (report collectors, a not-TLS port). */
export function startHttpServer(handler?: Handler): Promise<TestServer> {
  return serve(createHttpServer(), handler ?? defaultHandler);
}

/** A TCP server that accepts connections and never says a word (for timeouts). */
export async function startSilentServer(): Promise<RunningServer> {
  const server = createTcpServer((socket) => socket.on("error", () => {}));
  const close = trackSockets(server);
  return { port: await listenLocal(server), close };
}

/** A plain-text (not TLS) server: answers like an HTTP server and closes. */
export async function startPlainServer(): Promise<RunningServer> {
  const server = createTcpServer((socket) => {
    socket.on("error", () => {});
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  const close = trackSockets(server);
  return { port: await listenLocal(server), close };
}
