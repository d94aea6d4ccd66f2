// A local HTTPS server run in its own process (so that the server's half of each handshake does not
// share the measured client's thread). Started by `startHttpsServers` in https-server.ts.
// Session resumption is refused (no tickets, and Node keeps no server-side session cache without a
// `resumeSession` listener), so every new connection is a full handshake whatever the client does.
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext, type TLSSocket } from "node:tls";

interface ListenerConfig {
  name: string;
  keyFile: string;
  certFile: string;
}

const configs = JSON.parse(process.env["KEYPIN_BENCH_SERVERS"] ?? "[]") as ListenerConfig[];
// connections: TLS handshakes the server completed; tcp: TCP connections accepted; hellos: ClientHellos
// that carried a server name (SNI), counted when the server reads them (a client that hangs up right after
// its own side of the handshake, as an inspection does, may never let the server complete).
const stats = { connections: 0, resumed: 0, requests: 0, servernames: 0, tcp: 0, hellos: 0 };
const names = new Set<string>();
const servers: Server[] = [];
const ports: Record<string, number> = {};

for (const config of configs) {
  const key = readFileSync(config.keyFile);
  const cert = readFileSync(config.certFile);
  const context = createSecureContext({ key, cert, secureOptions: constants.SSL_OP_NO_TICKET });
  const server = createServer(
    {
      key,
      cert,
      SNICallback: (name, callback) => {
        stats.hellos++;
        if (!names.has(name)) {
          names.add(name);
          stats.servernames = names.size;
        }
        callback(null, context);
      },
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
  });
  server.on("connection", () => {
    stats.tcp++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  ports[config.name] = (server.address() as AddressInfo).port;
  servers.push(server);
}

// The parent went away (finished, crashed or was killed): close everything and leave, so no orphan
// keeps the port or the parent's stdio open.
process.on("disconnect", () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  setTimeout(() => process.exit(0), 200).unref();
});
process.on("message", (message: { type: string }) => {
  if (message.type === "stats") process.send!({ type: "stats", stats: { ...stats } });
  if (message.type === "close") {
    process.disconnect();
  }
});
process.send!({ type: "ready", ports });
