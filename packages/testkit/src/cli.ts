// Runs commands as users run them: the BUILT `keypin` bin (packages/cli/bin/keypin.js, `npm run build` first) as a
// subprocess without a terminal, or on a pseudo-terminal; and any process, timed from spawn to exit.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The CLI's bin, as `npx keypin` runs it. */
export const cliBin = fileURLToPath(new URL("../../cli/bin/keypin.js", import.meta.url));
const distMain = fileURLToPath(new URL("../../cli/dist/main.js", import.meta.url));

function assertBuilt(): void {
  if (!existsSync(distMain)) {
    throw new Error("packages/cli/dist/main.js is missing: run `npm run build` before the CLI tests");
  }
}

/** An environment: `undefined` removes a variable. */
export type Env = Record<string, string | undefined>;

function cleanEnv(env: Env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * The environment the CLI runs in: this process's, colors off, no proxy, no extra CA, no NODE_OPTIONS, then
 * `overrides` (`undefined` removes one, e.g. `{ NO_COLOR: undefined }` to test colors).
 */
export function cliEnv(overrides: Env = {}): NodeJS.ProcessEnv {
  const env: Env = { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined };
  for (const name of ["HTTPS_PROXY", "https_proxy", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS"]) delete env[name];
  return cleanEnv({ ...env, ...overrides });
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

export interface ProcessOptions {
  /** stdin's content; stdin is closed after it unless `keepStdinOpen`. */
  input?: string | Uint8Array;
  /** Leave stdin open (a pipe nobody writes to), as in CI: a command that waits for input would hang. */
  keepStdinOpen?: boolean;
  /** The whole environment (default: this process's); `undefined` values are removed. */
  env?: Env;
  cwd?: string;
  /** SIGKILL it after this long, so that a hanging command fails its test instead of the whole run. */
  killAfterMs?: number;
}

/** Runs `command …args` with piped stdio; resolves with its exit, output and wall time. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: cleanEnv(options.env ?? process.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start });
    });
    child.stdin.on("error", () => {});
    if (options.keepStdinOpen) {
      if (options.input !== undefined) child.stdin.write(options.input);
    } else child.stdin.end(options.input ?? "");
  });
}

export type CliResult = ProcessResult;

export interface CliOptions extends Omit<ProcessOptions, "env"> {
  /** Changes to `cliEnv()`'s environment. */
  env?: Env;
  /** Another copy of the bin (a test's modified build); default `cliBin`. */
  bin?: string;
}

/**
 * Runs `node packages/cli/bin/keypin.js …args` without a terminal (stdin a pipe, closed after `input`), in
 * `cliEnv(options.env)`. Killed after `killAfterMs` (30 s by default).
 */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  if (!options.bin) assertBuilt();
  return runProcess(process.execPath, [options.bin ?? cliBin, ...args], {
    ...options,
    env: cliEnv(options.env),
    killAfterMs: options.killAfterMs ?? 30_000,
  });
}

/** Starts the CLI like `runCli` and hands back the child (for commands that keep running, such as `lab --keep`). */
export function spawnCli(
  args: readonly string[],
  options: { env?: Env; cwd?: string } = {},
): ChildProcessWithoutNullStreams {
  assertBuilt();
  return spawn(process.execPath, [cliBin, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: "pipe",
  });
}

/** `runCli`, synchronously (stdin empty), for tests that need no server in this process. */
export function runCliSync(
  args: readonly string[],
  options: { env?: Env; cwd?: string } = {},
): { code: number | null; stdout: string; stderr: string } {
  assertBuilt();
  const run = spawnSync(process.execPath, [cliBin, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    encoding: "utf8",
    input: "",
    timeout: 30_000,
  });
  if (run.error) throw run.error;
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Whether `text` looks like a stack trace. */
export function hasStack(text: string): boolean {
  return /\n\s+at .+\(.+:\d+:\d+\)|\n\s+at file:\/\//.test(text);
}

/**
 * Runs the CLI on a pseudo-terminal (python3's pty module), answering the first prompt that contains `prompt` with
 * `answer`. Resolves with the exit code and everything the terminal showed.
 */
export function runCliOnTerminal(
  args: readonly string[],
  prompt: string,
  answer: string,
  options: { cwd?: string; killAfterMs?: number } = {},
): Promise<{ code: number | null; output: string; prompted: boolean }> {
  assertBuilt();
  const script = `
import os, pty, sys, select, json, time
argv = json.loads(sys.argv[1]); prompt = sys.argv[2].encode(); answer = sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = b""; prompted = False; deadline = time.time() + 25
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not prompted and prompt in out:
            prompted = True
            os.write(fd, answer + b"\\n")
    else:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
try:
    _, status = os.waitpid(pid, 0)
except ChildProcessError:
    status = 0
sys.stdout.write(json.dumps({"code": os.waitstatus_to_exitcode(status), "output": out.decode("utf8", "replace"), "prompted": prompted}))
`;
  return new Promise((resolve, reject) => {
    const env: Env = { ...process.env, NODE_OPTIONS: undefined, NO_COLOR: undefined, FORCE_COLOR: undefined };
    const child = spawn(
      "python3",
      ["-c", script, JSON.stringify([process.execPath, cliBin, ...args]), prompt, answer],
      { cwd: options.cwd, env: cleanEnv(env) },
    );
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? 40_000);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(stdout) as { code: number | null; output: string; prompted: boolean });
      } catch (error) {
        reject(new Error(`pty runner printed no result: ${stdout}`, { cause: error }));
      }
    });
  });
}
