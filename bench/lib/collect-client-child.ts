// The client of the collect target (bench/targets/collect.ts), in its own process. It speaks HTTP/1.1 over
// raw keep-alive sockets (a request written, its answer read, the next request on the same socket), which
// costs far less CPU than node:http's client: on two cores the server under test, not the client, should be
// what a round measures. Every body is a TrustKit Android report (the shape `keypin collect` documents) built
// from the run's openssl chains; the mix (see makeBody) is the same for every server.
//
// IPC: {type: "run", port, count, concurrency, distinctShare, nonce} → {type: "done", ms, statuses}.
import { connect, type Socket } from "node:net";

interface ChainPems {
  leaf: string;
  intermediate: string;
  root: string;
}

interface RunMessage {
  type: "run";
  port: number;
  count: number;
  concurrency: number;
  /** Share of reports that start a new group (a host never reported before); the rest repeat HOT groups. */
  distinctShare: number;
  /** Makes this round's new hosts differ from every other round's. */
  nonce: string;
}

const chains = JSON.parse(process.env.KEYPIN_BENCH_CHAINS ?? "[]") as ChainPems[];
if (chains.length === 0) throw new Error("KEYPIN_BENCH_CHAINS holds no chain");

/** Groups that every round repeats: a flood of the same failure from many devices. */
const HOT = 24;
/** Pins the app knows (none of them in the chains: every report is a pin failure). */
const KNOWN_PINS = [
  'pin-sha256="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
  'pin-sha256="BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="',
];

/**
 * A report split around the device fields (vendor id, time) that differ from device to device without
 * changing the group, so that each body is distinct bytes, as a fleet's are.
 */
function template(host: string, chain: ChainPems): [string, string, string] {
  const head = `{"app-bundle-id":"com.example.app","app-version":"1.2.3","app-vendor-id":"`;
  const middle = `","app-platform":"ANDROID","app-platform-version":"34","trustkit-version":"1.1.5","hostname":${JSON.stringify(host)},"port":443,"noted-hostname":"check.keypin.test","include-subdomains":true,"enforce-pinning":true,"served-certificate-chain":${JSON.stringify([chain.leaf, chain.intermediate])},"validated-certificate-chain":${JSON.stringify([chain.leaf, chain.intermediate, chain.root])},"known-pins":${JSON.stringify(KNOWN_PINS)},"validation-result":1,"date-time":"`;
  const tail = `"}`;
  return [head, middle, tail];
}

const hot = Array.from({ length: HOT }, (_, g) =>
  template(`h${g}.check.keypin.test`, chains[g % chains.length]!),
);

let device = 0;
function body(i: number, m: RunMessage): string {
  device += 1;
  const vendor = `599F9C00-92DC-4B5C-9464-${String(device).padStart(12, "0")}`;
  const time = new Date(1_796_000_000_000 + device * 1000).toISOString();
  // A deterministic spread of the new groups over the round (every 1/share-th report).
  const distinct =
    m.distinctShare > 0 && Math.floor((i + 1) * m.distinctShare) > Math.floor(i * m.distinctShare);
  const [head, middle, tail] = distinct
    ? template(`n${i}-${m.nonce}.check.keypin.test`, chains[i % chains.length]!)
    : hot[i % HOT]!;
  return `${head}${vendor}${middle}${time}${tail}`;
}

function request(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const head = Buffer.from(
    `POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
  );
  return Buffer.concat([head, payload]);
}

/** One keep-alive connection: sends a request, reads the status and content-length body, resolves per answer. */
class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: ((status: number) => void) | undefined;
  private failed: ((error: Error) => void) | undefined;
  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on("error", (error) => this.failed?.(error));
    socket.on("close", () => this.failed?.(new Error("the server closed a keep-alive connection")));
  }
  private parse(): void {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buffer.toString("latin1", 0, end);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
    if (this.buffer.length < end + 4 + length) return;
    this.buffer = this.buffer.subarray(end + 4 + length);
    const done = this.waiting;
    this.waiting = undefined;
    done?.(Number(head.slice(9, 12)));
  }
  send(bytes: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
      this.socket.write(bytes);
    });
  }
  close(): void {
    this.failed = undefined;
    this.socket.destroy();
  }
}

async function open(port: number): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(new Connection(socket)));
    socket.once("error", reject);
  });
}

async function runRound(m: RunMessage): Promise<{ ms: number; statuses: Record<string, number> }> {
  const connections = await Promise.all(Array.from({ length: m.concurrency }, () => open(m.port)));
  // Bodies are made before the clock starts: the round times the server, not the client's string work.
  const requests = Array.from({ length: m.count }, (_, i) => request(body(i, m)));
  const statuses: Record<string, number> = {};
  let next = 0;
  const start = performance.now();
  try {
    await Promise.all(
      connections.map(async (c) => {
        while (next < m.count) {
          const status = await c.send(requests[next++]!);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
  } finally {
    for (const c of connections) c.close();
  }
  return { ms: performance.now() - start, statuses };
}

process.on("message", (m: RunMessage | { type: "exit" }) => {
  if (m.type === "exit") process.exit(0);
  if (m.type === "run") {
    runRound(m).then(
      (result) => process.send?.({ type: "done", ...result }),
      (error: Error) => process.send?.({ type: "done", error: error.message }),
    );
  }
});
process.send?.({ type: "ready" });
