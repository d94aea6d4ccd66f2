// Starts rotating-tls-server-child.ts: a TLS server in another process serving a new chain per connection.
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface RotatingTlsServer {
  port: number;
  /** Handshakes the server has started (one chain each). */
  served(): Promise<number>;
  close(): Promise<void>;
}

/** Serves `chains` (PEM, leaf first, all for `key`) one per connection, in order; `dir` holds the hand-over file. */
export async function startRotatingTlsServer(
  dir: string,
  key: string,
  chains: string[],
): Promise<RotatingTlsServer> {
  const file = join(dir, `rotating-chains-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ key, chains }));
  const child = fork(fileURLToPath(new URL("./rotating-tls-server-child.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, KEYPIN_BENCH_CHAINS: file },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`rotating TLS server exited early (code ${code})`)));
    child.once("message", (m: { port: number }) => resolve(m.port));
  });
  return {
    port,
    served: () =>
      new Promise((resolve) => {
        child.once("message", (m: { served: number }) => resolve(m.served));
        child.send({ type: "served" });
      }),
    close: async () => {
      if (child.connected) child.send({ type: "close" });
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
