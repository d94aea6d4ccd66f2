// onKeylog and onSocket on the pinned agent and dispatcher: the key log lines are the server's own (direct and
// through a CONNECT tunnel, refused handshakes included), and no hook, throwing or not, changes a verdict.
import assert from "node:assert/strict";
import { once } from "node:events";
import { get as httpsGet } from "node:https";
import { after, before, describe, test } from "node:test";
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from "node:tls";
import { createPinnedAgent, createPinnedDispatcher } from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  rejectionOf,
  startConnectProxy,
  startHttpsServer,
  type TestChain,
  type TestServer,
  unrelatedPin,
} from "@keypin/testkit";
import { Agent, request } from "undici";

let chain: TestChain;
let ca: string[];
let apiServer: TestServer;
/** Every key log line either server logged, by the client random it belongs to (the line's second field). */
const serverLines = new Map<string, string[]>();
/** A raw TLS server counting the application bytes it receives, for the refusals. */
let raw: TlsServer;
let rawPort = 0;
let rawBytes = 0;
const closers: (() => Promise<void>)[] = [];

function record(line: Buffer): void {
  const text = line.toString("latin1");
  const random = text.split(" ")[1] ?? "";
  serverLines.set(random, [...(serverLines.get(random) ?? []), text]);
}

before(async () => {
  chain = await createChain("p256", ["api.keypin.test"], "hooks");
  ca = [chain.root.pem];
  apiServer = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
  apiServer.server.on("keylog", record);
  raw = createTlsServer({ key: chain.leaf.keyPem, cert: chain.served }, (socket) => {
    socket.on("data", (data: Buffer) => {
      rawBytes += data.length;
    });
    socket.on("error", () => {});
  });
  raw.on("keylog", record);
  raw.listen(0, "127.0.0.1");
  await once(raw, "listening");
  rawPort = (raw.address() as { port: number }).port;
  closers.push(apiServer.close, async () => {
    raw.close();
  });
});
after(async () => {
  for (const close of closers) await close();
});

const goodPolicy = () => policyOf({ "api.keypin.test": [chain.intermediate.pin, unrelatedPin()] });
const wrongPolicy = () => policyOf({ "api.keypin.test": [unrelatedPin(), unrelatedPin()] });
const connect = { lookup: lookupLocal };

/** The client's lines, grouped by client random; each group must equal the server's lines for that random. */
function assertSameAsServer(clientLines: string[], sessions: number, refused = false): void {
  const byRandom = new Map<string, string[]>();
  for (const line of clientLines) {
    assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/, "an NSS key log line ending in a newline");
    const random = line.split(" ")[1] ?? "";
    byRandom.set(random, [...(byRandom.get(random) ?? []), line]);
  }
  assert.equal(byRandom.size, sessions, "one client random per TLS session");
  for (const [random, lines] of byRandom) {
    const server = serverLines.get(random);
    assert.ok(server, "the server logged this session");
    // TLS 1.3: both handshake secrets, both traffic secrets and the exporter secret.
    assert.ok(lines.length >= 5, `expected at least 5 lines, got ${lines.length}`);
    if (!refused) {
      assert.deepEqual([...lines].sort(), [...server].sort());
      continue;
    }
    // Refused: the server logs its handshake secrets before its Finished, long before the client hangs up; the
    // application secrets it derives on reading the client's Finished may never come (the client reset).
    for (const line of server)
      assert.ok(lines.includes(line), "every line the server logged, the client gave");
    for (const label of ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"]) {
      assert.ok(
        server.some((line) => line.startsWith(`${label} `)),
        `the server logged ${label}`,
      );
    }
  }
}

/** Waits until the server side logged every line for the client's sessions (its logging can trail the client's). */
async function settled(clientLines: string[], lines = 5): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const randoms = new Set(clientLines.map((line) => line.split(" ")[1] ?? ""));
    const done = [...randoms].every((random) => (serverLines.get(random)?.length ?? 0) >= lines);
    if (done) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("onKeylog", () => {
  test("the dispatcher's lines are the server's own, direct", async () => {
    const lines: string[] = [];
    const sockets = new Set<TLSSocket>();
    const dispatcher = createPinnedDispatcher({
      policy: goodPolicy(),
      ca,
      connect,
      onKeylog: (line, socket) => {
        lines.push(line.toString("latin1"));
        sockets.add(socket);
      },
    });
    const res = await request(`https://api.keypin.test:${apiServer.port}/direct`, { dispatcher });
    assert.equal(res.statusCode, 200);
    await res.body.text();
    await dispatcher.close();
    await settled(lines);
    assertSameAsServer(lines, 1);
    assert.equal(sockets.size, 1);
  });

  test("the dispatcher's lines are the server's own through a CONNECT proxy, and the origin is still pinned", async () => {
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const lines: string[] = [];
    const dispatcher = createPinnedDispatcher({
      policy: goodPolicy(),
      ca,
      proxy: proxy.url,
      onKeylog: (line) => lines.push(line.toString("latin1")),
    });
    const res = await request(`https://api.keypin.test:${apiServer.port}/tunnel`, { dispatcher });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { ok: true, path: "/tunnel" });
    await dispatcher.close();
    assert.deepEqual(proxy.tunnels, [`api.keypin.test:${apiServer.port}`]);
    await settled(lines);
    assertSameAsServer(lines, 1);

    // The same tunnel with a pin set the server does not match: refused, no request reaches the server.
    const before = apiServer.requests.length;
    const refusedLines: string[] = [];
    const bad = createPinnedDispatcher({
      policy: wrongPolicy(),
      ca,
      proxy: proxy.url,
      onKeylog: (line) => refusedLines.push(line.toString("latin1")),
    });
    const error = await rejectionOf(
      request(`https://api.keypin.test:${apiServer.port}/secret`, { dispatcher: bad }),
    );
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    await bad.close();
    assert.equal(apiServer.requests.length, before);
    assert.equal(proxy.tunnels.length, 2, "the refused request went through the proxy too");
    await settled(refusedLines, 2);
    assertSameAsServer(refusedLines, 1, true);
  });

  test("the agent's lines are the server's own", async () => {
    const lines: string[] = [];
    const agent = createPinnedAgent({
      policy: goodPolicy(),
      ca,
      connect,
      onKeylog: (line) => lines.push(line.toString("latin1")),
    });
    const res = httpsGet(`https://api.keypin.test:${apiServer.port}/agent`, { agent, lookup: lookupLocal });
    const [response] = (await once(res, "response")) as [import("node:http").IncomingMessage];
    assert.equal(response.statusCode, 200);
    response.resume();
    await once(response, "end");
    agent.destroy();
    await settled(lines);
    assertSameAsServer(lines, 1);
  });
});

describe("a refused handshake", () => {
  test("control: an unpinned client sends the server its request (the byte counter works)", async () => {
    const before = rawBytes;
    const plain = new Agent({ connect: { ca, lookup: lookupLocal } });
    const pending = request(`https://api.keypin.test:${rawPort}/`, {
      dispatcher: plain,
      headersTimeout: 500,
    });
    for (let i = 0; i < 100 && rawBytes === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(rawBytes > before, "the unpinned client's request reached the server");
    await plain.destroy();
    await pending.catch(() => {});
  });

  for (const client of ["dispatcher", "agent"] as const) {
    test(`${client}: the secrets still arrive on a pin mismatch, and nothing is sent`, async () => {
      const before = rawBytes;
      const lines: string[] = [];
      const error = await refusedRequest(client, { onKeylog: (line) => lines.push(line.toString("latin1")) });
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
      await settled(lines, 2);
      assertSameAsServer(lines, 1, true);
      assert.equal(rawBytes, before, "no application byte reached the server");
    });

    test(`${client}: throwing hooks do not turn a refusal into a connection`, async () => {
      const before = rawBytes;
      const warnings: string[] = [];
      let keylogCalls = 0;
      const error = await refusedRequest(client, {
        onSocket: () => {
          throw new Error("onSocket broke");
        },
        onKeylog: () => {
          keylogCalls++;
          throw new Error("onKeylog broke");
        },
        onWarning: (message) => warnings.push(message),
      });
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
      assert.ok(keylogCalls >= 1);
      assert.equal(rawBytes, before, "no application byte reached the server");
      assert.ok(warnings.some((w) => w.includes("onSocket threw") && w.includes("onSocket broke")));
      assert.ok(warnings.some((w) => w.includes("onKeylog threw") && w.includes("onKeylog broke")));
      for (const warning of warnings)
        assert.doesNotMatch(warning, /[0-9a-f]{64}/, "no key log line in a warning");
    });
  }
});

describe("onSocket", () => {
  test("is called before the handshake: a 'secure' listener it prepends sees the chain before the pin check", async () => {
    let seen: Buffer | undefined;
    let verdictAfter = false;
    let verdicts = 0;
    const warnings: string[] = [];
    const dispatcher = createPinnedDispatcher({
      onWarning: (message) => warnings.push(message),
      policy: wrongPolicy(),
      ca,
      connect,
      onVerdict: () => {
        verdicts++;
      },
      onSocket: (socket) => {
        assert.equal(socket.getPeerX509Certificate(), undefined, "no handshake yet");
        socket.prependListener("secure", () => {
          seen = socket.getPeerCertificate(true).raw;
          verdictAfter = verdicts === 0;
        });
      },
    });
    const error = await rejectionOf(request(`https://api.keypin.test:${rawPort}/`, { dispatcher }));
    await dispatcher.close();
    assert.deepEqual(warnings, []);
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH", String(error));
    assert.ok(seen, "the listener ran");
    assert.deepEqual(new Uint8Array(seen), chain.leaf.der);
    assert.ok(verdictAfter, "the listener ran before keypin's check");
  });

  test("a hook that is not a function is refused", () => {
    assert.throws(
      () => createPinnedDispatcher({ policy: goodPolicy(), onKeylog: "keys.log" as never }),
      (error: unknown) => keypinCodeOf(error) === "ERR_KEYPIN_OPTIONS",
    );
  });
});

type Hooks = Parameters<typeof createPinnedAgent>[0];

async function refusedRequest(
  client: "dispatcher" | "agent",
  hooks: Pick<Hooks, "onSocket" | "onKeylog" | "onWarning">,
): Promise<unknown> {
  const url = `https://api.keypin.test:${rawPort}/secret`;
  if (client === "dispatcher") {
    const dispatcher = createPinnedDispatcher({ policy: wrongPolicy(), ca, connect, ...hooks });
    try {
      return await rejectionOf(request(url, { dispatcher }));
    } finally {
      await dispatcher.close();
    }
  }
  const agent = createPinnedAgent({ policy: wrongPolicy(), ca, connect, ...hooks });
  try {
    const req = httpsGet(url, { agent, lookup: lookupLocal });
    const [error] = await once(req, "error");
    return error;
  } finally {
    agent.destroy();
  }
}
