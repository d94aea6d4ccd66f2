// One server of the collect target (bench/targets/collect.ts), in its own process so that it has a core of
// its own and the client's work never lands on its event loop:
//   KEYPIN_BENCH_COLLECT = {"kind": "bare"}                          node:http, reads and JSON.parses each body, answers 201
//   KEYPIN_BENCH_COLLECT = {"kind": "collector", "database": FILE|URL, "modules": DIR}
//                                                                    @keypin/collect from the run's snapshot
// Tells the parent its port over IPC; answers {type: "rss"} with its resident set size and {type: "close"} by
// closing (the collector flushes and snapshots its store) and exiting. The rss answer holds the process's CPU
// time so far too (user + system, µs, all threads: the parent takes CPU per report from it, a figure that
// other load on the machine changes far less than it changes reports/s).
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { resolveIn } from "./snapshot.js";

interface Config {
  kind: "bare" | "collector";
  database?: string;
  modules?: string;
}

const config = JSON.parse(process.env.KEYPIN_BENCH_COLLECT ?? "{}") as Config;

/** VmRSS from /proc (the kernel's count, not V8's), in bytes; process.memoryUsage().rss elsewhere. */
function rss(): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m?.[1]) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss;
}

let server: Server;
let close: () => Promise<void>;
let errors = 0;
if (config.kind === "bare") {
  // What any JSON endpoint does at the least: read the body, parse it, answer.
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let status = 201;
      try {
        JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        status = 400;
      }
      const text = status === 201 ? '{"stored":false}\n' : '{"error":"not JSON"}\n';
      res.writeHead(status, { "content-type": "application/json", "content-length": text.length });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
} else {
  const collect = (await import(
    pathToFileURL(resolveIn(config.modules as string, "@keypin/collect")).href
  )) as typeof import("@keypin/collect");
  const store = await collect.openStore(config.database as string);
  const collector = await collect.startCollector({
    store,
    // The client is one address sending far more than a device would: no per-client limit here.
    perClientPerMinute: Number.MAX_SAFE_INTEGER,
    onError: () => {
      errors += 1;
    },
  });
  server = collector.server;
  close = async () => {
    await collector.close();
    await store.close();
  };
}
const port = (server.address() as AddressInfo).port;
process.send?.({ type: "ready", port });
process.on("message", (m: { type: string }) => {
  if (m.type === "rss") {
    const cpu = process.cpuUsage();
    process.send?.({
      type: "rss",
      rss: rss(),
      cpuMicros: cpu.user + cpu.system,
      systemMicros: cpu.system,
      errors,
    });
  }
  if (m.type === "close") {
    server.closeAllConnections?.();
    close().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  }
});
