// Starts HTTPS listeners in a child process and talks to it over IPC.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ServerStats {
  connections: number;
  resumed: number;
  requests: number;
  /** Distinct TLS server names (SNI) seen since the server started. */
  servernames: number;
  /** TCP connections accepted. */
  tcp: number;
  /** ClientHellos with a server name. */
  hellos: number;
}

export interface HttpsServers {
  ports: Record<string, number>;
  stats(): Promise<ServerStats>;
  close(): Promise<void>;
}

export async function startHttpsServers(
  listeners: { name: string; keyFile: string; certFile: string }[],
): Promise<HttpsServers> {
  const script = fileURLToPath(new URL("./https-server-child.ts", import.meta.url));
  const child: ChildProcess = fork(script, [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, KEYPIN_BENCH_SERVERS: JSON.stringify(listeners) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`bench HTTPS server exited early (code ${code})`)));
    child.once("message", (m: { type: string; ports: Record<string, number> }) => resolve(m.ports));
  });
  return {
    ports,
    stats: () =>
      new Promise((resolve) => {
        child.once("message", (m: { stats: ServerStats }) => resolve(m.stats));
        child.send({ type: "stats" });
      }),
    close: async () => {
      if (child.connected) child.send({ type: "close" });
      const timer = setTimeout(() => child.kill(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
