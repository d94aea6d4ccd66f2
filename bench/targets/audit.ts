// Target 14 (issue 14): new intercepted connections per second through `keypin audit` (the installed bin, as a
// user runs it) against mitmproxy's mitmdump (Debian's, 8.x) on the same machine, same client, same upstream,
// in one run, A/B alternated round by round.
//
// Fair by construction:
// - both proxies verify the upstream's chain against the same test root (`--upstream-ca` for keypin,
//   `ssl_verify_upstream_trusted_ca` for mitmproxy), and both run as their own process;
// - both forge for the same host (127.0.0.1, an IP SAN) and cache the forged leaf per host: a warm-up round
//   per side runs first and is discarded;
// - mitmdump runs quiet (`-q`, `--flow-detail 0`, no flows file) with its defaults otherwise;
//   keypin audit runs with `--report FILE` and no terminal (no live table), as a script would;
// - the same client for both: Node `net` + `tls`, trusting both proxies' CAs through one secure context; every
//   request is a new TCP connection, a CONNECT, a full TLS handshake with the proxy (no session reuse) and one
//   small GET; CONCURRENCY in flight. The upstream is one HTTPS server in its own process that refuses session
//   resumption and answers "Connection: close", so each proxy makes one full upstream handshake per request
//   too (checked on the server's counters).
// A round's value is connections per second; the headline is the median of the per-round ratios keypin/mitmdump
// with its 95% interval. The CPU each proxy process used per connection (from /proc) is reported beside it:
// on a shared 2-core machine the client and the upstream compete with the proxy for the cores, so the CPU cost
// per connection is the steadier view of the proxy's own work.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { join } from "node:path";
import { connect as connectTls, createSecureContext, type SecureContext } from "node:tls";
import { createChain, isListening, mitmdumpPath, unusedPort } from "@keypin/testkit";
import { startHttpsServers } from "../lib/https-server.js";
import { alternate, drive, medianInterval, pairedRatios, ratiosOf, summarize } from "../lib/stats.js";
import { type BenchContext, judge, type TargetResult } from "../lib/types.js";

const CONCURRENCY = 8;
const THRESHOLD = 3;
const HOST = "127.0.0.1";

interface Proxy {
  name: string;
  port: number;
  pid: number;
  caPem: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<string>;
}

/** user + system CPU of a process (all its threads), in milliseconds, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the ")" (state is field 3): clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function spawnProxy(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Proxy {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out = (out + d).slice(-200_000);
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    out = (out + d).slice(-200_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    name,
    port: 0,
    pid: child.pid ?? 0,
    caPem: "",
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      return out;
    },
  };
}

async function waitFor(what: string, proxy: Proxy, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (proxy.child.exitCode !== null)
      throw new Error(`${what} exited early: ${proxy.output().slice(-2000)}`);
    if (Date.now() > deadline)
      throw new Error(`${what} did not come up in 30 s: ${proxy.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** No proxy settings leak into the proxies' own upstream connections. */
function cleanEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!/^(https?|all|no)_proxy$/i.test(key)) env[key] = value;
  return { ...env, HOME: home, PYTHONUNBUFFERED: "1", NO_COLOR: "1" };
}

async function startKeypin(bin: string, dir: string, upstreamCaFile: string): Promise<Proxy> {
  const port = await unusedPort();
  const caDir = join(dir, "keypin-ca");
  const proxy = spawnProxy(
    "keypin audit",
    process.execPath,
    [
      // e.g. KEYPIN_BENCH_AUDIT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the proxy process
      ...(process.env.KEYPIN_BENCH_AUDIT_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
      bin,
      "audit",
      "--listen",
      `${HOST}:${port}`,
      "--ca-dir",
      caDir,
      "--upstream-ca",
      upstreamCaFile,
      "--report",
      join(dir, "keypin-report.json"),
    ],
    cleanEnv(dir),
  );
  await waitFor("keypin audit", proxy, async () => /proxy on http/.test(proxy.output()) && isListening(port));
  return { ...proxy, port, caPem: readFileSync(join(caDir, "keypin-audit-ca.pem"), "utf8") };
}

async function startMitm(dir: string, upstreamCaFile: string): Promise<Proxy> {
  if (!existsSync(mitmdumpPath)) throw new Error(`mitmdump not found at ${mitmdumpPath}`);
  const port = await unusedPort();
  const confdir = join(dir, "mitm-conf");
  const proxy = spawnProxy(
    "mitmdump",
    mitmdumpPath,
    [
      "-q",
      "--flow-detail",
      "0",
      "--listen-host",
      HOST,
      "--listen-port",
      String(port),
      "--set",
      `confdir=${confdir}`,
      "--set",
      `ssl_verify_upstream_trusted_ca=${upstreamCaFile}`,
    ],
    cleanEnv(dir),
  );
  const caFile = join(confdir, "mitmproxy-ca-cert.pem");
  await waitFor("mitmdump", proxy, async () => existsSync(caFile) && isListening(port));
  return { ...proxy, port, caPem: readFileSync(caFile, "utf8") };
}

/** Reads an HTTP/1.1 response's head and its Content-Length body; resolves with the status line and body. */
function oneRequest(
  proxyPort: number,
  upstreamPort: number,
  context: SecureContext,
): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const tcp = connectTcp({ host: HOST, port: proxyPort });
    const fail = (error: Error): void => {
      tcp.destroy();
      reject(error);
    };
    tcp.once("error", fail);
    tcp.write(`CONNECT ${HOST}:${upstreamPort} HTTP/1.1\r\nHost: ${HOST}:${upstreamPort}\r\n\r\n`);
    let head = Buffer.alloc(0);
    const onConnectReply = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      tcp.off("data", onConnectReply);
      const line = head.subarray(0, head.indexOf("\r\n")).toString();
      if (!/^HTTP\/1\.[01] 200/.test(line)) {
        fail(new Error(`CONNECT answered ${line}`));
        return;
      }
      if (head.length > end + 4) {
        fail(new Error("bytes after the CONNECT reply"));
        return;
      }
      const tls = connectTls({ socket: tcp, secureContext: context, host: HOST });
      let response = Buffer.alloc(0);
      tls.once("error", fail);
      tls.once("secureConnect", () => {
        tls.write(`GET /close HTTP/1.1\r\nHost: ${HOST}:${upstreamPort}\r\nConnection: close\r\n\r\n`);
      });
      const check = (): boolean => {
        const split = response.indexOf("\r\n\r\n");
        if (split < 0) return false;
        const headers = response.subarray(0, split).toString();
        const length = /\r\ncontent-length: *(\d+)/i.exec(headers);
        const body = response.subarray(split + 4);
        if (!length || body.length < Number(length[1])) return false;
        tls.destroy();
        resolve({ status: headers.slice(0, headers.indexOf("\r\n")), body: body.toString() });
        return true;
      };
      tls.on("data", (d: Buffer) => {
        response = Buffer.concat([response, d]);
        check();
      });
      tls.once("end", () => {
        if (!check()) fail(new Error(`response ended early: ${response.toString().slice(0, 200)}`));
      });
    };
    tcp.on("data", onConnectReply);
  });
}

export async function run(ctx: BenchContext): Promise<TargetResult[]> {
  const rounds = ctx.quick ? 6 : 24;
  const perRound = ctx.quick ? 48 : 160;
  const base = {
    target: 14,
    id: "14-audit-vs-mitmdump",
    title: "keypin audit vs mitmdump: new intercepted connections (CONNECT + TLS + one GET each)",
    metric: "throughput keypin/mitmdump (conn/s)",
    threshold: `≥ ${THRESHOLD}`,
  };
  const bin = join(ctx.modules, ".bin", "keypin");
  if (!existsSync(bin)) return [{ ...base, status: "not-measured", reason: `${bin} does not exist` }];
  if (!existsSync(mitmdumpPath))
    return [
      {
        ...base,
        status: "not-measured",
        reason: `mitmdump not found at ${mitmdumpPath} (apt-get install mitmproxy)`,
      },
    ];

  const dir = join(ctx.dir, "audit");
  mkdirSync(dir, { recursive: true });
  const genuine = await createChain("p256", [HOST], "bench upstream");
  const files = { key: join(dir, "up.key"), served: join(dir, "up.pem"), root: join(dir, "root.pem") };
  writeFileSync(files.key, genuine.leaf.keyPem);
  writeFileSync(files.served, genuine.served);
  writeFileSync(files.root, genuine.root.pem);
  const servers = await startHttpsServers([{ name: "up", keyFile: files.key, certFile: files.served }]);
  const upstreamPort = servers.ports["up"]!;
  const proxies: Proxy[] = [];
  try {
    const mitm = await startMitm(dir, files.root);
    proxies.push(mitm);
    const keypin = await startKeypin(bin, dir, files.root);
    proxies.push(keypin);
    const mitmVersion = await new Promise<string>((resolve) => {
      const v = spawn(mitmdumpPath, ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      v.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      v.on("close", () => resolve(/Mitmproxy: *(\S+)/.exec(out)?.[1] ?? "unknown"));
    });
    // One client context for both sides: it trusts both proxies' CAs (and nothing else), and keeps no sessions.
    const context = createSecureContext({ ca: [keypin.caPem, mitm.caPem] });
    const before = await servers.stats();
    const cpu = new Map<string, number[]>(proxies.map((p) => [p.name, []]));
    const clientCpu = new Map<string, number[]>(proxies.map((p) => [p.name, []]));
    const values = await alternate(
      proxies.map((proxy) => ({
        name: proxy.name,
        run: async () => {
          const cpuBefore = cpuMs(proxy.pid);
          const clientBefore = process.cpuUsage();
          const ms = await drive(perRound, CONCURRENCY, async () => {
            const { status, body } = await oneRequest(proxy.port, upstreamPort, context);
            if (!/^HTTP\/1\.1 200/.test(status) || body !== "ok\n")
              throw new Error(
                `${proxy.name}: the upstream's answer came back as ${status} ${JSON.stringify(body)}`,
              );
          });
          cpu.get(proxy.name)!.push((cpuMs(proxy.pid) - cpuBefore) / perRound);
          const client = process.cpuUsage(clientBefore);
          clientCpu.get(proxy.name)!.push((client.user + client.system) / 1000 / perRound);
          return (perRound * 1000) / ms;
        },
      })),
      rounds,
      1,
    );
    const after = await servers.stats();
    const expected = 2 * perRound * (rounds + 1);
    const requests = after.requests - before.requests;
    const connections = after.connections - before.connections;
    if (requests !== expected) throw new Error(`the upstream saw ${requests} requests, expected ${expected}`);
    if (connections !== expected)
      throw new Error(`the upstream saw ${connections} TLS connections for ${expected} requests`);
    if (after.resumed !== before.resumed) throw new Error("an upstream TLS session was resumed");

    // keypin's own account: the report it prints at the end must list the host as intercepted.
    await keypin.stop();
    const json = readFileSync(join(dir, "keypin-report.json"), "utf8");
    const report = JSON.parse(json) as {
      interceptedDomains: string[];
      verdicts: { host: string; verdict: string; evidence: { tunnels: number[] } }[];
    };
    const verdict = report.verdicts.find((v) => v.host === HOST);
    if (!report.interceptedDomains.includes(HOST) || verdict?.verdict !== "intercepted")
      throw new Error(`keypin audit's report does not say ${HOST} was intercepted: ${json.slice(0, 500)}`);

    const k = values.get("keypin audit")!;
    const m = values.get("mitmdump")!;
    const paired = pairedRatios(m, k);
    const ci = medianInterval(ratiosOf(m, k));
    const cpuK = cpu.get("keypin audit")!.slice(1);
    const cpuM = cpu.get("mitmdump")!.slice(1);
    const cpuRatio = summarize(ratiosOf(cpuK, cpuM));
    // Does keypin's cost per connection grow with the session (it keeps every tunnel for the report)?
    const quarter = Math.max(1, Math.floor(cpuK.length / 4));
    const early = summarize(cpuK.slice(0, quarter)).median;
    const late = summarize(cpuK.slice(-quarter)).median;
    return [
      {
        ...base,
        status: judge(paired.median, ">=", THRESHOLD),
        value: paired.median,
        sides: {
          "keypin audit": { ...summarize(k), unit: "conn/s" },
          [`mitmdump ${mitmVersion}`]: { ...summarize(m), unit: "conn/s" },
          "keypin audit, proxy CPU": { ...summarize(cpuK), unit: "ms/conn" },
          [`mitmdump ${mitmVersion}, proxy CPU`]: { ...summarize(cpuM), unit: "ms/conn" },
          "client CPU, through keypin audit": {
            ...summarize(clientCpu.get("keypin audit")!.slice(1)),
            unit: "ms/conn",
          },
          "client CPU, through mitmdump": {
            ...summarize(clientCpu.get("mitmdump")!.slice(1)),
            unit: "ms/conn",
          },
        },
        notes: [
          `value = median of ${rounds} per-round ratios keypin/mitmdump (95% interval of the median ${ci.low.toFixed(2)}–${ci.high.toFixed(2)}; IQR ${paired.q1.toFixed(2)}–${paired.q3.toFixed(2)}, min–max ${paired.min.toFixed(2)}–${paired.max.toFixed(2)})`,
          `proxy CPU per connection mitmdump/keypin: median ${cpuRatio.median.toFixed(2)} (IQR ${cpuRatio.q1.toFixed(2)}–${cpuRatio.q3.toFixed(2)}; /proc utime+stime, 10 ms ticks)`,
          `keypin audit's CPU per connection over the session: median ${early.toFixed(2)} ms in the first ${quarter} rounds, ${late.toFixed(2)} ms in the last ${quarter} (${cpuK.length * perRound} tunnels by then)`,
          `${perRound} new connections per side per round, ${CONCURRENCY} in flight, 1 warm-up round per side discarded; the upstream saw ${connections} full TLS handshakes for ${requests} requests, 0 resumed`,
          `keypin audit's report: ${HOST} intercepted over ${verdict.evidence.tunnels.length} tunnels`,
        ],
      },
    ];
  } finally {
    for (const proxy of proxies) await proxy.stop();
    await servers.close();
  }
}
