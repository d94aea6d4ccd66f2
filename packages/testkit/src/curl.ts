import { execFile } from "node:child_process";
import { connect } from "node:net";

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port, false when it is refused. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") resolve(false);
      else reject(error);
    });
  });
}

/** Runs curl (never blocking the event loop, so in-process servers keep answering). */
export function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "20", ...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The port of "127.0.0.1:1234" or "http://127.0.0.1:1234". */
export function portOf(address: string): number {
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${address}`);
  return port;
}
