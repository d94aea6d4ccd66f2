// No TLS session or socket crosses origins (issue 12, class 5). Node runs no `checkServerIdentity` on a resumed TLS
// session, so a session from a full handshake that was checked for one origin (or under no pins at all) must never be
// resumed for another. The attacker is a server with a certificate for every name below from a CA the device
// trusts; it counts the sessions it resumes (server side, `isSessionReused`) and the tokens it receives.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createSecureServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import { createServer as createHttpsServer, get as httpsGet, type RequestOptions } from "node:https";
import { after, before, describe, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  startConnectProxy,
  type TestChain,
  trackSockets,
} from "@keypin/testkit";
import { type Dispatcher, ProxyAgent, request as undiciRequest } from "undici";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
const TOKEN = "Bearer session-crossing-secret";
const connect = { lookup: lookupLocal };

let genuine: TestChain;
let attacker: TestChain;
const trusted = () => [genuine.root.pem, attacker.root.pem];
const policy = () => policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin] });

/** An HTTPS server (the attacker's) that counts full and resumed handshakes and the requests carrying TOKEN. */
interface CountingServer {
  port: number;
  full: number;
  resumed: number;
  tokens: number;
  /** Host headers of the requests that carried TOKEN. */
  stolenFor: string[];
  close: () => Promise<void>;
}

async function startCountingServer(
  chain: TestChain,
  maxVersion: "TLSv1.2" | "TLSv1.3" = "TLSv1.3",
  handler?: (path: string) => { status: number; headers?: Record<string, string> },
  { h2 = false } = {},
): Promise<CountingServer> {
  const tls = { key: chain.leaf.keyPem, cert: chain.served, maxVersion };
  // With h2, the server offers h2 and http/1.1 in ALPN (node:http2's compatibility API answers both alike).
  const server = h2 ? createHttp2Server({ ...tls, allowHTTP1: true }) : createHttpsServer(tls);
  const result: CountingServer = {
    port: 0,
    full: 0,
    resumed: 0,
    tokens: 0,
    stolenFor: [],
    close: trackSockets(server as never),
  };
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.isSessionReused()) result.resumed++;
    else result.full++;
  });
  server.on(
    "request",
    (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
      if (req.headers.authorization === TOKEN) {
        result.tokens++;
        result.stolenFor.push(req.headers.host ?? String(req.headers[":authority"]));
      }
      const answer = handler?.(req.url ?? "/") ?? { status: 200 };
      (res as ServerResponse).writeHead(answer.status, answer.headers ?? {});
      res.end("ok");
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  result.port = (server.address() as { port: number }).port;
  return result;
}

async function viaUndici(dispatcher: Dispatcher, url: string, options: Record<string, unknown> = {}) {
  try {
    const res = await undiciRequest(url, {
      dispatcher,
      ...options,
      headers: { authorization: TOKEN, ...((options["headers"] as object) ?? {}) },
    });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return keypinCodeOf(error) ?? String((error as { cause?: unknown }).cause ?? error);
  }
}

function viaAgent(agent: unknown, url: string, options: RequestOptions = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsGet(
      url,
      {
        agent: agent as RequestOptions["agent"],
        ...options,
        headers: { authorization: TOKEN, ...options.headers },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", (error) =>
      resolve(keypinCodeOf(error) ?? (error as { code?: string }).code ?? String(error)),
    );
  });
}

before(async () => {
  genuine = await createChain("p256", [HOST], "sessions genuine");
  attacker = await createChain("p256", [HOST, OTHER], "sessions attacker");
});

describe("sessions behind a proxy: undici's ProxyAgent shares one session cache across origins", () => {
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  before(async () => {
    proxy = await startConnectProxy();
  });
  after(async () => {
    await proxy.close();
  });

  test("control: a plain ProxyAgent with requestTls.servername resumes an unpinned origin's session for another origin", async () => {
    const evil = await startCountingServer(attacker);
    // The check that "pins" HOST here stands for any check: on a resumed session Node does not call it at all.
    let checks = 0;
    const plain = new ProxyAgent({
      uri: proxy.url,
      requestTls: {
        ca: trusted(),
        servername: OTHER,
        checkServerIdentity: () => {
          checks++;
          return undefined;
        },
      },
    });
    assert.equal(await viaUndici(plain, `https://${OTHER}:${evil.port}/`), 200);
    assert.equal(await viaUndici(plain, `https://${HOST}:${evil.port}/`), 200);
    await plain.close();
    await evil.close();
    assert.equal(evil.full, 1, "one full handshake");
    assert.equal(evil.resumed, 1, "the second origin resumed the first origin's session");
    assert.equal(checks, 1, "no check ran for the second origin");
  });

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`a pinned dispatcher with a proxy and connect.servername never resumes another origin's session (${maxVersion})`, async () => {
      const evil = await startCountingServer(attacker, maxVersion);
      const d = createPinnedDispatcher({
        policy: policy(),
        ca: trusted(),
        proxy: proxy.url,
        connect: { servername: OTHER },
      });
      assert.equal(await viaUndici(d, `https://${OTHER}:${evil.port}/`), 200, "OTHER has no pins");
      // Same origin again on a new connection may resume: that session was checked for this origin.
      assert.equal(
        await viaUndici(d, `https://${HOST}:${evil.port}/`),
        "ERR_KEYPIN_PIN_MISMATCH",
        "HOST is pinned: its first connection must get a full, checked handshake",
      );
      await d.close();
      await evil.close();
      assert.equal(evil.resumed, 0);
      assert.deepEqual(evil.stolenFor, [`${OTHER}:${evil.port}`]);
    });
  }

  test("a pinned dispatcher with a proxy resumes a session for the same origin only", async () => {
    const server = await startCountingServer(genuine);
    const d = createPinnedDispatcher({
      policy: policy(),
      ca: [genuine.root.pem],
      proxy: proxy.url,
      agent: { pipelining: 0 }, // one request per connection would still reuse the socket: close it instead
    });
    for (let round = 0; round < 3; round++) {
      assert.equal(
        await viaUndici(d, `https://${HOST}:${server.port}/`, { headers: { connection: "close" } }),
        200,
      );
    }
    await d.close();
    await server.close();
    // undici keeps each session through a WeakRef only, so a garbage collection between connections can drop it
    // (measured: with the origin's TLS made on the tunnel by keypin's connector, the third connection found none).
    assert.equal(server.full + server.resumed, 3);
    assert.ok(server.full >= 1 && server.full <= 2, `full handshakes: ${server.full}`);
    assert.ok(server.resumed >= 1, "a later connection to the same origin resumes its session");
  });
});

describe("sessions without a proxy: per-origin pools", () => {
  test("a pinned dispatcher: Host header and servername tricks inside one origin, and a cross-origin redirect, never resume a session for a pinned origin", async () => {
    const evil = await startCountingServer(attacker, "TLSv1.3", (path) =>
      path === "/redirect"
        ? { status: 302, headers: { location: `https://${HOST}:${evil.port}/` } }
        : { status: 200 },
    );
    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect });
    const unpinned = `https://${OTHER}:${evil.port}/`;
    assert.equal(await viaUndici(d, unpinned, { headers: { connection: "close" } }), 200);
    assert.equal(await viaUndici(d, unpinned, { headers: { connection: "close" } }), 200);
    assert.equal(evil.resumed, 1, "control: the unpinned origin resumes its own session");
    const pinnedUrl = `https://${HOST}:${evil.port}/`;
    assert.equal(await viaUndici(d, pinnedUrl, { headers: { host: OTHER } }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaUndici(d, pinnedUrl, { servername: OTHER }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaUndici(d, pinnedUrl), "ERR_KEYPIN_PIN_MISMATCH");
    // A redirect from the unpinned origin to the pinned one (undici's redirect interceptor).
    const { interceptors } = await import("undici");
    const following = d.compose(interceptors.redirect({ maxRedirections: 2 }));
    assert.equal(
      await viaUndici(following, `https://${OTHER}:${evil.port}/redirect`),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await d.close();
    await evil.close();
    assert.equal(evil.resumed, 1, "no session was resumed for the pinned origin");
    assert.deepEqual(evil.stolenFor, [
      `${OTHER}:${evil.port}`,
      `${OTHER}:${evil.port}`,
      `${OTHER}:${evil.port}`,
    ]);
  });

  test("a pinned agent: Host header and servername tricks never resume a session for a pinned host", async () => {
    const evil = await startCountingServer(attacker);
    const agent = createPinnedAgent({ policy: policy(), ca: trusted(), connect });
    const unpinned = `https://${OTHER}:${evil.port}/`;
    assert.equal(await viaAgent(agent, unpinned), 200);
    assert.equal(await viaAgent(agent, unpinned), 200);
    assert.equal(evil.resumed, 1, "control: the unpinned host resumes its own session");
    const pinnedUrl = `https://${HOST}:${evil.port}/`;
    assert.equal(await viaAgent(agent, pinnedUrl, { headers: { host: OTHER } }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaAgent(agent, pinnedUrl, { servername: OTHER }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaAgent(agent, pinnedUrl), "ERR_KEYPIN_PIN_MISMATCH");
    agent.destroy();
    await evil.close();
    assert.equal(evil.resumed, 1);
    assert.equal(evil.tokens, 2);
  });

  test("a pinned agent resumes sessions for the same host (its cache still works)", async () => {
    const server = await startCountingServer(genuine);
    const agent = createPinnedAgent({ policy: policy(), ca: [genuine.root.pem], connect });
    for (let round = 0; round < 3; round++)
      assert.equal(await viaAgent(agent, `https://${HOST}:${server.port}/`), 200);
    agent.destroy();
    await server.close();
    assert.equal(server.full, 1);
    assert.equal(server.resumed, 2);
  });
});

describe("pinnedTlsOptions and a session of the caller's", () => {
  test("control: a session from an unpinned connection, passed with the pinned options, skips the pin check", async () => {
    // This is why the README says never to pass a session that did not come from these same options and host.
    const evil = await startCountingServer(attacker);
    const first = tlsConnect({ host: "127.0.0.1", port: evil.port, servername: HOST, ca: trusted() });
    const [session] = (await once(first, "session")) as [Buffer];
    first.destroy();
    const pinned = pinnedTlsOptions({ policy: policy(), ca: trusted() });
    const socket = tlsConnect({
      host: HOST,
      port: evil.port,
      servername: HOST,
      ...connect,
      ...pinned,
      session,
    });
    await once(socket, "secureConnect");
    assert.equal(socket.isSessionReused(), true);
    socket.destroy();
    await evil.close();
  });

  test("a session from a pinned connection to the genuine host cannot be resumed by an attacker: full handshake, refused", async () => {
    const genuineServer = await startCountingServer(genuine);
    const evil = await startCountingServer(attacker);
    const pinned = pinnedTlsOptions({ policy: policy(), ca: trusted() });
    const first = tlsConnect({ host: HOST, port: genuineServer.port, ...connect, ...pinned });
    const [session] = (await once(first, "session")) as [Buffer];
    first.destroy();
    const socket = tlsConnect({ host: HOST, port: evil.port, ...connect, ...pinned, session });
    const [error] = (await once(socket, "error")) as [unknown];
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    await genuineServer.close();
    await evil.close();
    assert.equal(evil.resumed, 0);
  });
});

describe("a polluted Object.prototype", () => {
  // Run in a child process: the pollution must not leak into the test runner or other tests.
  test("Object.prototype.session / secureContext fool unpinned clients; every pinned client still refuses", async () => {
    const child = fileURLToPath(new URL("./helpers/prototype-pollution-child.ts", import.meta.url));
    const evil = await startCountingServer(attacker, "TLSv1.3", undefined, { h2: true });
    const env = {
      ...process.env,
      NODE_OPTIONS: "",
      KP_PORT: String(evil.port),
      KP_GENUINE_ROOT: genuine.root.pem,
      KP_ATTACKER_ROOT: attacker.root.pem,
      KP_PINS: JSON.stringify([genuine.leaf.pin, genuine.root.pin]),
      KP_TOKEN: TOKEN,
    };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["--import", "tsx", child], { env, timeout: 25_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    await evil.close();
    const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
    // The controls: pollution alone made clients that trust only the genuine root talk to the attacker.
    assert.equal(result["controlSession"], 200, JSON.stringify(result));
    assert.equal(result["controlSecureContext"], 200, JSON.stringify(result));
    for (const name of ["dispatcher", "proxyDispatcher", "agent", "tlsOptions", "http2", "lateDispatcher"]) {
      for (const kind of ["Session", "SecureContext", "CheckServerIdentity", "RejectUnauthorized"]) {
        const key = `${name}${kind}`;
        const refusedAsOptions = name === "lateDispatcher" && result[key] === "ERR_KEYPIN_OPTIONS";
        assert.ok(
          result[key] === "ERR_KEYPIN_PIN_MISMATCH" || refusedAsOptions,
          `${key}: ${String(result[key])} in ${JSON.stringify(result)}`,
        );
      }
    }
    assert.equal(evil.tokens, 2, "only the two controls' requests reached the attacker with the token");
  });
});
