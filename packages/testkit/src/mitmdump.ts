// The real mitmproxy (Debian's `mitmproxy` package, mitmdump 8.x) as an intercepting proxy for interop tests
// (packages/node/test/interop and packages/cli/test/interop).
// It runs as a regular HTTP proxy on 127.0.0.1, generates its CA in a test-owned confdir, trusts only the lab
// backend's root upstream (never --ssl-insecure), and writes what it intercepted to a flows file. `stop()` ends it
// gracefully (mitmdump closes the flows file on shutdown) and returns its whole record: stdout, stderr, the raw
// flows bytes and the HTTP requests parsed from them.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isListening, unusedPort } from "./net.js";

/** Where CI installs it (`apt-get install mitmproxy`). Overridable for a pip install elsewhere. */
export const mitmdumpPath = process.env["KEYPIN_MITMDUMP"] ?? "/usr/bin/mitmdump";

export interface MitmRequest {
  method: string;
  scheme: string;
  host: string;
  port: number;
  path: string;
  headers: [string, string][];
}

/** Everything mitmdump left behind for one run. */
export interface MitmRecord {
  stdout: string;
  stderr: string;
  /** The flows file exactly as written (tnetstring-encoded flows). */
  flows: Buffer;
  /** HTTP requests parsed from the flows file. */
  requests: MitmRequest[];
  /** Whether a string occurs anywhere mitmdump wrote: stdout, stderr or the flows file. */
  contains: (text: string) => boolean;
}

export interface Mitmdump {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The CA mitmproxy forges with (generated in `confdir` on first start). */
  caPath: string;
  caPem: string;
  /** Ends mitmdump (SIGTERM, then SIGKILL after 10 s) and returns its record. Safe to call twice. */
  stop: () => Promise<MitmRecord>;
}

export interface MitmdumpOptions {
  /** mitmproxy's confdir: its CA lives here, so runs sharing a confdir forge with the same CA. */
  confdir: string;
  /** PEM file of the CA the upstream (lab backend) chains to: mitmproxy verifies upstream against it. */
  upstreamCaPath: string;
  /** Where the flows file goes. */
  dir: string;
}

let runs = 0;

/** Whether something accepts a TCP connection on 127.0.0.1:port (any error: no). */
const canConnect = (port: number): Promise<boolean> => isListening(port).catch(() => false);

/**
 * Starts mitmdump on a free port of 127.0.0.1 and resolves once it accepts connections. Retries with another
 * port when the chosen one was taken in between. Rejects (failing the test, never skipping it) when mitmdump is
 * not installed or does not come up.
 */
export async function startMitmdump(options: MitmdumpOptions): Promise<Mitmdump> {
  if (!existsSync(mitmdumpPath)) {
    throw new Error(
      `mitmdump not found at ${mitmdumpPath}: the interop tests need the real mitmproxy ` +
        "(Debian: apt-get install mitmproxy; or set KEYPIN_MITMDUMP to its path)",
    );
  }
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await unusedPort();
    try {
      return await launch(options, port);
    } catch (error) {
      lastError = error as Error;
      if (!/address already in use|Errno 98|EADDRINUSE/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error("mitmdump did not start");
}

async function launch(options: MitmdumpOptions, port: number): Promise<Mitmdump> {
  const flowsPath = join(options.dir, `mitmdump-${process.pid}-${++runs}.flows`);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(https?|all|no)_proxy$/i.test(key)) env[key] = value;
  }
  env["PYTHONUNBUFFERED"] = "1";
  env["HOME"] = options.dir; // anything it might write outside confdir stays in the test's directory
  const child: ChildProcess = spawn(
    mitmdumpPath,
    [
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      String(port),
      "--set",
      `confdir=${options.confdir}`,
      "--set",
      `ssl_verify_upstream_trusted_ca=${options.upstreamCaPath}`,
      "--set",
      "upstream_cert=true",
      "--set",
      "connection_strategy=eager",
      "--flow-detail",
      "3",
      "-w",
      flowsPath,
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null)));
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

  // Ready = it said so and the port accepts connections; give a loaded machine 30 s.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const failure = await Promise.race([
      spawnError,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)),
    ]);
    if (failure) throw new Error(`could not run ${mitmdumpPath}: ${failure.message}`);
    if (hasExited) {
      throw new Error(`mitmdump exited before listening on ${port}:\n${stdout}${stderr}`.trim());
    }
    if (/Proxy server listening/.test(stdout) && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`mitmdump did not listen on 127.0.0.1:${port} within 30 s:\n${stdout}${stderr}`);
    }
  }

  const caPath = join(options.confdir, "mitmproxy-ca-cert.pem");
  let record: Promise<MitmRecord> | undefined;
  const stop = (): Promise<MitmRecord> => {
    record ??= (async () => {
      if (!hasExited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      const flows = existsSync(flowsPath) ? readFileSync(flowsPath) : Buffer.alloc(0);
      const requests = parseFlows(flows);
      return {
        stdout,
        stderr,
        flows,
        requests,
        contains: (text: string) =>
          stdout.includes(text) || stderr.includes(text) || flows.includes(Buffer.from(text, "utf8")),
      };
    })();
    return record;
  };
  return { url: `http://127.0.0.1:${port}`, port, caPath, caPem: readFileSync(caPath, "utf8"), stop };
}

// ---- mitmproxy's flow file: a sequence of tnetstrings (https://tnetstrings.info/, mitmproxy/io/tnetstring.py) ----

type TValue = Buffer | string | number | boolean | null | TValue[] | { [key: string]: TValue };

function parseTnetstring(data: Buffer, offset: number): [TValue, number] {
  const colon = data.indexOf(0x3a, offset);
  if (colon < 0 || colon - offset > 12) throw new Error(`flows file: no length prefix at byte ${offset}`);
  const length = Number(data.toString("latin1", offset, colon));
  if (!Number.isInteger(length) || length < 0) throw new Error(`flows file: bad length at byte ${offset}`);
  const start = colon + 1;
  const end = start + length;
  if (end >= data.length) throw new Error(`flows file: truncated value at byte ${offset}`);
  const payload = data.subarray(start, end);
  const type = String.fromCharCode(data[end]!);
  const next = end + 1;
  switch (type) {
    case ",":
      return [Buffer.from(payload), next];
    case ";":
      return [payload.toString("utf8"), next];
    case "#":
    case "^":
      return [Number(payload.toString("latin1")), next];
    case "!":
      return [payload.toString("latin1") === "true", next];
    case "~":
      return [null, next];
    case "]": {
      const items: TValue[] = [];
      for (let at = start; at < end; ) {
        const [item, after] = parseTnetstring(data, at);
        items.push(item);
        at = after;
      }
      return [items, next];
    }
    case "}": {
      const object: { [key: string]: TValue } = {};
      for (let at = start; at < end; ) {
        const [key, afterKey] = parseTnetstring(data, at);
        const [value, afterValue] = parseTnetstring(data, afterKey);
        object[text(key)] = value;
        at = afterValue;
      }
      return [object, next];
    }
    default:
      throw new Error(`flows file: unknown type "${type}" at byte ${end}`);
  }
}

function text(value: TValue | undefined): string {
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

/** The HTTP requests in a mitmproxy flows file (other flow types are ignored). */
export function parseFlows(data: Buffer): MitmRequest[] {
  const requests: MitmRequest[] = [];
  for (let at = 0; at < data.length; ) {
    const [flow, next] = parseTnetstring(data, at);
    at = next;
    if (typeof flow !== "object" || flow === null || Array.isArray(flow) || Buffer.isBuffer(flow)) continue;
    const request = flow["request"];
    if (flow["type"] !== "http" && text(flow["type"]) !== "http") continue;
    if (typeof request !== "object" || request === null || Array.isArray(request) || Buffer.isBuffer(request))
      continue;
    const headers = Array.isArray(request["headers"]) ? request["headers"] : [];
    requests.push({
      method: text(request["method"]),
      scheme: text(request["scheme"]),
      host: text(request["host"]),
      port: Number(request["port"]),
      path: text(request["path"]),
      headers: headers.flatMap((pair) =>
        Array.isArray(pair) && pair.length === 2 ? [[text(pair[0]), text(pair[1])] as [string, string]] : [],
      ),
    });
  }
  return requests;
}

/** The value of a header (case-insensitive name) in a parsed request. */
export function headerOf(request: MitmRequest, name: string): string | undefined {
  return request.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}
