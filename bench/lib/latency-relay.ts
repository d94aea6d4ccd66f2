// A TCP relay on 127.0.0.1 that holds each new connection for `delayMs` before connecting it to the
// upstream and piping both ways: the connection set-up latency a real network adds.

import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";

export interface LatencyRelay {
  port: number;
  /** Connections relayed so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startLatencyRelay(upstreamPort: number, delayMs: number): Promise<LatencyRelay> {
  const sockets = new Set<Socket>();
  let count = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    count++;
    track(client);
    client.pause();
    client.on("error", () => client.destroy());
    const timer = setTimeout(() => {
      const upstream = connect({ host: "127.0.0.1", port: upstreamPort });
      track(upstream);
      upstream.on("error", () => client.destroy());
      // When one side goes away, let the other side's pending bytes drain (a TLS Finished may still be in
      // flight), then close; destroy it only if it lingers.
      const closeLater = (socket: Socket) => {
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      };
      client.on("close", () => closeLater(upstream));
      upstream.on("close", () => closeLater(client));
      upstream.on("connect", () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    }, delayMs);
    client.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
