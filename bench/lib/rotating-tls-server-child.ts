// A TLS server in its own process that serves a different chain on every connection: the n-th handshake gets the
// n-th of the chains listed in the file named by KEYPIN_BENCH_CHAINS (JSON: { key, chains: [PEM…] }), in order,
// wrapping around. No session tickets: every connection is a full handshake. It completes the handshake and closes;
// it sends no application data. Started by startRotatingTlsServer (rotating-tls-server.ts).
import { constants } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createSecureContext, createServer } from "node:tls";

const { key, chains } = JSON.parse(readFileSync(process.env["KEYPIN_BENCH_CHAINS"]!, "utf8")) as {
  key: string;
  chains: string[];
};
const contexts = chains.map((cert) =>
  createSecureContext({ key, cert, secureOptions: constants.SSL_OP_NO_TICKET }),
);
let next = 0;
const server = createServer(
  {
    key,
    cert: chains[0],
    secureOptions: constants.SSL_OP_NO_TICKET,
    SNICallback: (_name, callback) => callback(null, contexts[next++ % contexts.length]),
  },
  (socket) => {
    socket.on("error", () => {});
    socket.end();
  },
);
server.on("tlsClientError", () => {}); // a pinned client that refuses the chain resets the connection
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("message", (m: { type: string }) => {
  if (m.type === "served") process.send?.({ served: next });
  if (m.type === "close") server.close(() => process.exit(0));
});
