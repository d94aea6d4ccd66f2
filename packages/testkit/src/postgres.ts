// A throwaway PostgreSQL cluster for the tests and the bench: Debian's postgresql binaries (/usr/lib/postgresql/*/bin),
// initdb in a temporary directory, pg_ctl start on a free port on 127.0.0.1, trust auth for one user.
// As root (CI), the cluster runs as the postgres user (PostgreSQL refuses to run as root).
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { unusedPort } from "./net.js";

export interface PgCluster {
  url: string;
  stop(): void;
}

/** The directory of initdb and pg_ctl, newest version first; undefined when PostgreSQL is not installed. */
export function findPgBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/** Why the PostgreSQL tests cannot run here, or undefined when they can. In CI (CI=true) they must run. */
export function pgUnavailable(): string | undefined {
  if (findPgBin()) return undefined;
  const reason =
    "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql";
  if (process.env.CI === "true") throw new Error(`${reason}; CI must run the PostgreSQL tests`);
  return reason;
}

/** Starts a cluster (initdb, pg_ctl start) on a free port of 127.0.0.1; `stop()` stops it and deletes its files. */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) throw new Error("no PostgreSQL binaries");
  const dir = mkdtempSync(join(tmpdir(), "keypin-pg-"));
  const data = join(dir, "data");
  const asRoot = userInfo().uid === 0;
  const run = (cmd: string, args: string[]): void => {
    const full = join(bin, cmd);
    if (asRoot) execFileSync("runuser", ["-u", "postgres", "--", full, ...args], { stdio: "pipe", cwd: dir });
    else execFileSync(full, args, { stdio: "pipe", cwd: dir });
  };
  if (asRoot) {
    const { uid, gid } = {
      uid: Number(execFileSync("id", ["-u", "postgres"]).toString()),
      gid: Number(execFileSync("id", ["-g", "postgres"]).toString()),
    };
    chownSync(dir, uid, gid);
  }
  run("initdb", ["-D", data, "-A", "trust", "-U", "keypin", "--no-sync", "-E", "UTF8"]);
  const port = await unusedPort();
  run("pg_ctl", [
    "-D",
    data,
    "-l",
    join(dir, "log"),
    "-w",
    "-t",
    "30",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`,
    "start",
  ]);
  return {
    url: `postgres://keypin@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
