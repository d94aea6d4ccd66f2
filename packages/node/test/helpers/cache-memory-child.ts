// Run by cache-memory.test.ts in a child process started with --expose-gc (the test runner has no gc()): serves
// each forged leaf in KP_DIR once to an unpinned control, then once to a pinned client with onReport, and prints
// one JSON line with the V8 heap each kept after garbage collection, in MB.
import { readdirSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { pinnedTlsOptions } from "@keypin/node";

const dir = process.env["KP_DIR"]!;
const host = process.env["KP_HOST"]!;
const pins = JSON.parse(process.env["KP_PINS"]!) as string[];
const ca = readFileSync(join(dir, "forging-ca.crt"), "utf8");
const key = readFileSync(join(dir, "forged.key"), "utf8");
const leaves = readdirSync(dir).filter((name) => /^forged-\d+\.pem$/.test(name));
const contexts = leaves.map((name) =>
  tls.createSecureContext({ key, cert: readFileSync(join(dir, name), "utf8") }),
);
let next = 0;
const server = tls.createServer(
  { SNICallback: (_n, cb) => cb(null, contexts[next++ % contexts.length]) },
  (s) => {
    s.on("error", () => {});
    s.end();
  },
);
server.on("tlsClientError", () => {});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = (server.address() as AddressInfo).port;

const gc = (globalThis as { gc?: () => void }).gc!;
const heapMb = async (): Promise<number> => {
  await new Promise((resolve) => setTimeout(resolve, 50)); // reports are handed over in a setImmediate
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
};

async function round(options: tls.ConnectionOptions): Promise<{ retainedMb: number; accepted: number }> {
  const before = await heapMb();
  let accepted = 0;
  for (let i = 0; i < contexts.length; i++) {
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ ...options, host: "127.0.0.1", port, servername: host });
      socket.once("secureConnect", () => {
        accepted++;
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        resolve();
      });
    });
  }
  return { retainedMb: (await heapMb()) - before, accepted };
}

const control = await round({ ca });
let reports = 0;
const pinned = await round(
  pinnedTlsOptions({
    policy: { domains: { [host]: { pins } } },
    ca,
    onReport: () => {
      reports++;
    },
    onWarning: () => {},
  }),
);
server.close();
console.log(JSON.stringify({ handshakes: contexts.length, control, pinned, reports }));
