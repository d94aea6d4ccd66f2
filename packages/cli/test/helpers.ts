// Test helpers for the keypin CLI: run the BUILT bin as a subprocess, make real key material with the
// openssl CLI, and serve it from real sockets on 127.0.0.1 (TLS servers, a forging CONNECT proxy, and
// servers that misbehave on purpose).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";

export const cliBin = fileURLToPath(new URL("../bin/keypin.js", import.meta.url));
const distMain = fileURLToPath(new URL("../dist/main.js", import.meta.url));

if (!existsSync(distMain)) {
  throw new Error("packages/cli/dist/main.js is missing: run `npm run build` before the CLI tests");
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node packages/cli/bin/keypin.js …args` without a terminal (stdin is a pipe, closed after
 * `input`), colors off. Kills it after `killAfterMs` so a hanging command fails its test instead of
 * the whole run.
 */
export function runCli(
  args: readonly string[],
  options: {
    input?: string | Uint8Array;
    /** Leave stdin open (a pipe nobody writes to), as in CI: a command that waits for input would hang. */
    keepStdinOpen?: boolean;
    env?: Record<string, string | undefined>;
    cwd?: string;
    killAfterMs?: number;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined };
    delete env.HTTPS_PROXY;
    delete env.https_proxy;
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_OPTIONS;
    Object.assign(env, options.env ?? {});
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const child = spawn(process.execPath, [cliBin, ...args], {
      cwd: options.cwd,
      env,
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
    const timer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    if (options.keepStdinOpen) {
      if (options.input !== undefined) child.stdin.write(options.input);
    } else child.stdin.end(options.input ?? "");
  });
}

/** A fresh temporary directory, removed by the returned function. */
export function makeTempDir(prefix = "keypin-cli-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the openssl CLI; throws with its stderr when it fails. */
export function openssl(args: readonly string[], input?: string | Uint8Array): Buffer {
  const run = spawnSync("openssl", args, { input, maxBuffer: 16 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr.toString()}`);
  return run.stdout;
}

/** The pin of a public key (PEM) computed by the openssl pipeline: the oracle. */
export function opensslPinOfPublicKey(publicKeyPem: string | Buffer): string {
  const der = openssl(["pkey", "-pubin", "-outform", "der"], publicKeyPem);
  return `sha256/${openssl(["dgst", "-sha256", "-binary"], der).toString("base64")}`;
}

/** The pin of a certificate (PEM) by `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | …`. */
export function opensslPinOfCertificate(certPem: string | Buffer): string {
  return opensslPinOfPublicKey(openssl(["x509", "-pubkey", "-noout"], certPem));
}

/** sha256/base64 of bytes, for comparing with what openssl said. */
export function pinOfDer(spkiDer: Uint8Array): string {
  return `sha256/${createHash("sha256").update(spkiDer).digest("base64")}`;
}

/** Key algorithms the tests make with openssl genpkey. */
export type KeyKind = "rsa-2048" | "ec-p256" | "ec-p384" | "ec-p521" | "ed25519" | "ed448";

export function genpkeyArgs(kind: KeyKind): string[] {
  switch (kind) {
    case "rsa-2048":
      return ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    case "ec-p256":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    case "ec-p384":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
    case "ec-p521":
      return ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"];
    case "ed25519":
      return ["-algorithm", "ED25519"];
    case "ed448":
      return ["-algorithm", "ED448"];
  }
}

/** Writes a new private key (PKCS#8 PEM) of `kind` to `path` and returns the path. */
export function generateKey(path: string, kind: KeyKind): string {
  openssl(["genpkey", ...genpkeyArgs(kind), "-out", path]);
  return path;
}

export interface Issued {
  keyPath: string;
  certPath: string;
  key: string;
  cert: string;
}

/** A certificate authority made with openssl: a self-signed root, or an intermediate signed by `issuer`. */
export function makeCa(
  dir: string,
  name: string,
  subject: string,
  options: { issuer?: Issued; kind?: KeyKind; days?: number } = {},
): Issued {
  mkdirSync(dir, { recursive: true });
  const keyPath = generateKey(join(dir, `${name}.key`), options.kind ?? "ec-p256");
  const certPath = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n" +
      (options.issuer ? "authorityKeyIdentifier=keyid\n" : ""),
  );
  const days = String(options.days ?? 3650);
  if (options.issuer) {
    signCsr(keyPath, subject, options.issuer, days, ext, certPath);
  } else {
    openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      keyPath,
      "-subj",
      subject,
      "-days",
      days,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      certPath,
    ]);
  }
  return { keyPath, certPath, key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
}

/** Certifies the key at `keyPath` as `subject` with `issuer`, using the extensions file `ext`. */
function signCsr(
  keyPath: string,
  subject: string,
  issuer: Issued,
  days: string,
  ext: string,
  certPath: string,
): void {
  const csr = openssl(["req", "-new", "-key", keyPath, "-subj", subject]);
  openssl(
    [
      "x509",
      "-req",
      "-CA",
      issuer.certPath,
      "-CAkey",
      issuer.keyPath,
      "-CAcreateserial",
      "-days",
      days,
    ].concat(["-extfile", ext, "-out", certPath]),
    csr,
  );
}

/** The same subject and key as `ca`, certified by `issuer` instead of by itself (a cross-signed root). */
export function crossSign(dir: string, ca: Issued, subject: string, issuer: Issued): Issued {
  const certPath = join(dir, `cross-${Math.random().toString(36).slice(2)}.crt`);
  const ext = join(dir, "cross.ext");
  writeFileSync(
    ext,
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
  );
  signCsr(ca.keyPath, subject, issuer, "365", ext, certPath);
  return { keyPath: ca.keyPath, certPath, key: ca.key, cert: readFileSync(certPath, "utf8") };
}

/** A TLS server certificate for `names` (DNS names and IP addresses) signed by `issuer`. */
export function makeLeaf(
  dir: string,
  name: string,
  names: readonly string[],
  issuer: Issued,
  options: { kind?: KeyKind; days?: number; keyPath?: string } = {},
): Issued {
  mkdirSync(dir, { recursive: true });
  const keyPath = options.keyPath ?? generateKey(join(dir, `${name}.key`), options.kind ?? "ec-p256");
  const certPath = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  const san = names.map((n) => (/^[0-9.]+$/.test(n) || n.includes(":") ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\nauthorityKeyIdentifier=keyid\n`,
  );
  signCsr(keyPath, `/CN=${names[0]}`, issuer, String(options.days ?? 90), ext, certPath);
  return { keyPath, certPath, key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
}

/** A running server and how to stop it. */
export interface RunningServer {
  port: number;
  close: () => Promise<void>;
}

function track(server: net.Server): () => Promise<void> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTPS server on 127.0.0.1 that serves `chainPem` (leaf first) with `keyPem`; answers "hello\n". */
export async function startHttpsServer(keyPem: string, chainPem: string): Promise<RunningServer> {
  const server = tls.createServer({ key: keyPem, cert: chainPem }, (socket) => {
    socket.on("error", () => {});
    socket.once("data", () => {
      socket.end(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nconnection: close\r\n\r\nhello\n",
      );
    });
  });
  server.on("tlsClientError", () => {});
  const close = track(server);
  return { port: await listen(server), close };
}

/** A TCP server that accepts connections and never says a word (for timeouts). */
export async function startSilentServer(): Promise<RunningServer> {
  const server = net.createServer((socket) => socket.on("error", () => {}));
  const close = track(server);
  return { port: await listen(server), close };
}

/** A plain-text (not TLS) server: answers like an HTTP server and closes. */
export async function startPlainServer(): Promise<RunningServer> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  const close = track(server);
  return { port: await listen(server), close };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An HTTP proxy that refuses every CONNECT with 403. */
export async function startRefusingProxy(): Promise<RunningServer> {
  const server = http.createServer((_req, res) => res.writeHead(403).end());
  server.on("connect", (_req: http.IncomingMessage, socket: net.Socket) => {
    socket.on("error", () => {});
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });
  const close = track(server);
  return { port: await listen(server), close };
}

/** A CONNECT proxy that forwards the tunnel untouched (an honest corporate proxy). */
export async function startTunnelProxy(): Promise<RunningServer & { connects: string[] }> {
  const connects: string[] = [];
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    connects.push(req.url ?? "");
    socket.on("error", () => {});
    const [host, port] = splitAuthority(req.url ?? "");
    const upstream = net.connect(port, host, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on("error", () => socket.destroy());
  });
  const close = track(server);
  return { port: await listen(server), close, connects };
}

function splitAuthority(authority: string): [string, number] {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(authority);
  return match ? [match[1]!, Number(match[2])] : [authority, 443];
}

/**
 * An intercepting ("forging") CONNECT proxy like mitmproxy or Charles: for each tunnel it forges a
 * certificate for the server name the client asks for (SNI, else the CONNECT host), signed by its own
 * CA, terminates the client's TLS with it, and relays the decrypted bytes to the real server over a
 * second TLS connection (verified against `upstreamCa`). `upstream` maps a CONNECT target to the address
 * really dialled (default: the target itself).
 */
export async function startForgingProxy(
  dir: string,
  upstreamCa: string,
  upstream: (host: string, port: number) => [string, number] = (host, port) => [host, port],
): Promise<RunningServer & { ca: Issued; forged: string[] }> {
  const ca = makeCa(join(dir, "mitm"), "mitm-ca", "/O=Intercepting Proxy/CN=Intercepting Proxy CA");
  const contexts = new Map<string, tls.SecureContext>();
  const forged: string[] = [];
  const forge = (name: string): tls.SecureContext => {
    let context = contexts.get(name);
    if (!context) {
      const leaf = makeLeaf(join(dir, "mitm"), `forged-${contexts.size}`, [name], ca, { days: 30 });
      context = tls.createSecureContext({ key: leaf.key, cert: `${leaf.cert}${ca.cert}` });
      contexts.set(name, context);
    }
    forged.push(name);
    return context;
  };
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req: http.IncomingMessage, socket: net.Socket) => {
    socket.on("error", () => {});
    const [host, port] = splitAuthority(req.url ?? "");
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    let sni: string | undefined;
    const client = new tls.TLSSocket(socket, {
      isServer: true,
      SNICallback: (servername, callback) => {
        sni = servername;
        callback(null, forge(servername));
      },
      // Without SNI (an IP address), the forged certificate is for the CONNECT host.
      secureContext: forge(host),
    });
    client.on("error", () => {});
    client.once("secure", () => {
      const [dialHost, dialPort] = upstream(host, port);
      const name = sni ?? host;
      const real = tls.connect({
        host: dialHost,
        port: dialPort,
        servername: /^[0-9.]+$/.test(name) ? undefined : name,
        ca: upstreamCa,
      });
      real.on("error", () => client.destroy());
      client.pipe(real).pipe(client);
    });
  });
  const close = track(server);
  return { port: await listen(server), close, ca, forged };
}

/**
 * Runs curl (an outside client) with arguments; resolves with its exit status and output. Asynchronous:
 * the servers it talks to run in this process.
 */
export function curl(
  args: readonly string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["--silent", "--show-error", "--max-time", "10", ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Whether `text` looks like a stack trace. */
export function hasStack(text: string): boolean {
  return /\n\s+at .+\(.+:\d+:\d+\)|\n\s+at file:\/\//.test(text);
}

/** Whether openssl on this machine knows Ed448 (OpenSSL 1.1.1+). */
export function opensslVersion(): string {
  return execFileSync("openssl", ["version"], { encoding: "utf8" }).trim();
}

/**
 * Runs the CLI on a pseudo-terminal (python3's pty module), answering the first prompt that contains
 * `prompt` with `answer`. Resolves with the exit code and everything the terminal showed.
 */
export function runCliOnTerminal(
  args: readonly string[],
  prompt: string,
  answer: string,
  options: { cwd?: string; killAfterMs?: number } = {},
): Promise<{ code: number | null; output: string; prompted: boolean }> {
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
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const child = spawn(
      "python3",
      ["-c", script, JSON.stringify([process.execPath, cliBin, ...args]), prompt, answer],
      {
        cwd: options.cwd,
        env,
      },
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
