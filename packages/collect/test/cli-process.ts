// `keypin collect` as a user runs it: the built CLI as a child process, its ingest URL read from stdout.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { cliBin, cliEnv, type Env } from "@keypin/testkit";

export interface CollectorProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  stdout: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `keypin collect --listen 127.0.0.1:0 --database DATABASE` (or `args` instead of those), in `cwd`. */
export function spawnCollector(
  database: string | undefined,
  options: { args?: string[]; env?: Env; cwd?: string } = {},
): Promise<CollectorProcess> {
  const args = options.args ?? [
    "--listen",
    "127.0.0.1:0",
    ...(database === undefined ? [] : ["--database", database]),
  ];
  const child = spawn(process.execPath, [cliBin, "collect", ...args], {
    env: cliEnv(options.env),
    cwd: options.cwd,
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`keypin collect printed no ingest URL within 20 s; stderr: ${stderr}`));
    }, 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`keypin collect exited (${code}) before printing its URL; stderr: ${stderr}`));
    });
    child.stdout.on("data", (d) => {
      stdout += d.toString();
      const m = /ingest URL \(kTSKReportUris, reportUris\): (http:\/\/\S+\/report)\n/.exec(stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        resolve({
          child,
          url: m[1],
          stderr: () => stderr,
          stdout: () => stdout,
          async stop(signal = "SIGTERM") {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            await exited;
          },
        });
      }
    });
  });
}
