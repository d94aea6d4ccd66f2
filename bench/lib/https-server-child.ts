// A local HTTPS server run in its own process (so that the server's half of each handshake does not
// share the measured client's thread). Started by `startHttpsServers` in https-server.ts.
// Session resumption is refused (no tickets, and Node keeps no server-side session cache without a
// `resumeSession` listener), so every new connection is a full handshake whatever the client does.
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";

interface ListenerConfig {
  name: string;
  keyFile: string;
  certFile: string;
}

const configs = JSON.parse(process.env["KEYPIN_BENCH_SERVERS"] ?? "[]") as ListenerConfig[];
const stats = { connections: 0, resumed: 0, requests: 0, servernames: 0 };
const names = new Set<string>();
const servers: Server[] = [];
const ports: Record<string, number> = {};

for (const config of configs) {
  const server = createServer(
    {
      key: readFileSync(config.keyFile),
      cert: readFileSync(config.certFile),
      secureOptions: constants.SSL_OP_NO_TICKET,
      keepAliveTimeout: 60_000,
    },
    (req, res) => {
      stats.requests++;
      // "/close" answers with Connection: close, so no client may reuse the connection.
      if (req.url === "/close") res.setHeader("connection", "close");
      res.setHeader("content-type", "text/plain");
      res.end("ok\n");
    },
  );
  server.on("secureConnection", (socket: TLSSocket) => {
    stats.connections++;
    if (socket.isSessionReused()) stats.resumed++;
    const name = (socket as TLSSocket & { servername?: string | false }).servername;
    if (typeof name === "string" && !names.has(name)) {
      names.add(name);
      stats.servernames = names.size;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  ports[config.name] = (server.address() as AddressInfo).port;
  servers.push(server);
}

process.on("message", (message: { type: string }) => {
  if (message.type === "stats") process.send!({ type: "stats", stats: { ...stats } });
  if (message.type === "close") {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    process.disconnect();
  }
});
process.send!({ type: "ready", ports });
