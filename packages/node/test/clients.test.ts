// Every client keypin supports, each pinned and each failing closed on a mismatch before any request byte.
import assert from "node:assert/strict";
import { once } from "node:events";
import { request as httpsRequest } from "node:https";
import { after, before, describe, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { createPinnedAgent, createPinnedDispatcher, PinMismatchError, pinnedTlsOptions } from "@keypin/node";
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
import axios from "axios";
import got from "got";
import { fetch as undiciFetch } from "undici";
import WebSocket, { WebSocketServer } from "ws";

let api: TestChain;
let cdn: TestChain;
let apiServer: TestServer;
let cdnServer: TestServer;
let ca: string[];
const closers: (() => Promise<void>)[] = [];

before(async () => {
  api = await createChain("p256", ["api.keypin.test"], "api");
  cdn = await createChain("rsa", ["cdn.keypin.test"], "cdn");
  cdnServer = await startHttpsServer({ key: cdn.leaf.keyPem, cert: cdn.served });
  apiServer = await startHttpsServer({
    key: api.leaf.keyPem,
    cert: api.served,
    handler: (req, res) => {
      if (req.url === "/redirect") {
        res.writeHead(302, { location: `https://cdn.keypin.test:${cdnServer.port}/landing` }).end();
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: true, path: req.url }));
    },
  });
  const wss = new WebSocketServer({ server: apiServer.server });
  wss.on("connection", (socket) => socket.on("message", (data) => socket.send(`echo:${data}`)));
  closers.push(apiServer.close, cdnServer.close, async () => wss.close());
  ca = [api.root.pem, cdn.root.pem];
});
after(async () => {
  for (const close of closers) await close();
});

/** Pins api by its intermediate and cdn by its leaf (plus a backup each). */
const goodPolicy = () =>
  policyOf({
    "api.keypin.test": [api.intermediate.pin, unrelatedPin()],
    "cdn.keypin.test": [cdn.leaf.pin, unrelatedPin()],
  });
/** Pins for keys the servers do not have. */
const wrongPolicy = () =>
  policyOf({ "api.keypin.test": [unrelatedPin(), unrelatedPin()], "cdn.keypin.test": [unrelatedPin()] });

const connect = { lookup: lookupLocal };
const apiUrl = (path = "/") => `https://api.keypin.test:${apiServer.port}${path}`;

describe("undici fetch with createPinnedDispatcher", () => {
  test("follows a redirect to a second pinned host, checking each origin", async () => {
    const dispatcher = createPinnedDispatcher({ policy: goodPolicy(), ca, connect });
    const cdnBefore = cdnServer.requests.length;
    const res = await undiciFetch(apiUrl("/redirect"), { dispatcher });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, path: "/landing" });
    assert.equal(cdnServer.requests.length, cdnBefore + 1);
    await dispatcher.close();
  });

  test("refuses the redirect target when its pins do not match, before sending it anything", async () => {
    const policy = policyOf({
      "api.keypin.test": [api.intermediate.pin, unrelatedPin()],
      "cdn.keypin.test": [unrelatedPin(), unrelatedPin()],
    });
    const dispatcher = createPinnedDispatcher({ policy, ca, connect });
    const cdnBefore = cdnServer.requests.length;
    const error = await rejectionOf(undiciFetch(apiUrl("/redirect"), { dispatcher }));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    const cause = (error as { cause?: unknown }).cause;
    assert.ok(cause instanceof PinMismatchError);
    assert.equal(cause.host, "cdn.keypin.test");
    assert.equal(cause.port, cdnServer.port);
    assert.deepEqual(
      cause.chainPins.map((entry) => entry.pin),
      [cdn.leaf.pin, cdn.intermediate.pin, cdn.root.pin],
    );
    assert.match(
      cause.message,
      new RegExp(`${cdn.leaf.pin.replace(/[+/]/g, "\\$&")}: CN=cdn\\.keypin\\.test`),
    );
    assert.equal(cdnServer.requests.length, cdnBefore);
    await dispatcher.close();
  });

  test("pins the origin, not the proxy, through an HTTP CONNECT proxy", async () => {
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const good = createPinnedDispatcher({ policy: goodPolicy(), ca, proxy: proxy.url });
    const res = await undiciFetch(apiUrl("/via-proxy"), { dispatcher: good });
    assert.deepEqual(await res.json(), { ok: true, path: "/via-proxy" });
    assert.ok(proxy.tunnels.includes(`api.keypin.test:${apiServer.port}`));
    const bad = createPinnedDispatcher({ policy: wrongPolicy(), ca, proxy: proxy.url });
    const before = apiServer.requests.length;
    assert.equal(
      keypinCodeOf(await rejectionOf(undiciFetch(apiUrl("/x"), { dispatcher: bad }))),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    assert.equal(apiServer.requests.length, before);
    await good.close();
    await bad.close();
  });
});

describe("node:https with createPinnedAgent", () => {
  const get = (
    agent: ReturnType<typeof createPinnedAgent>,
    path: string,
    extra: Record<string, unknown> = {},
  ) =>
    new Promise<string>((resolve, reject) => {
      const req = httpsRequest(apiUrl(path), { agent, ...extra }, (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end();
    });

  test("https.request succeeds on a pinned chain", async () => {
    const agent = createPinnedAgent({ policy: goodPolicy(), ca, connect });
    assert.deepEqual(JSON.parse(await get(agent, "/https")), { ok: true, path: "/https" });
    agent.destroy();
  });

  test("https.request fails with ERR_KEYPIN_PIN_MISMATCH and the server receives no request", async () => {
    const agent = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
    const before = apiServer.requests.length;
    const error = await rejectionOf(get(agent, "/secret"));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(apiServer.requests.length, before);
    agent.destroy();
  });

  test("a request asking for rejectUnauthorized: false is still pinned (the agent's options win)", async () => {
    const agent = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
    const before = apiServer.requests.length;
    const error = await rejectionOf(get(agent, "/secret", { rejectUnauthorized: false }));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(apiServer.requests.length, before);
    agent.destroy();
  });

  test("an agent whose options were edited to switch validation off refuses to connect", async () => {
    const agent = createPinnedAgent({ policy: goodPolicy(), ca, connect });
    agent.options.rejectUnauthorized = false;
    const before = apiServer.connections;
    const error = await rejectionOf(get(agent, "/secret"));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_OPTIONS");
    assert.equal(apiServer.connections, before, "no connection was even opened");
    agent.destroy();
  });
});

describe("axios with createPinnedAgent", () => {
  test("axios with httpsAgent succeeds on a pinned chain and fails closed on a mismatch", async () => {
    const good = createPinnedAgent({ policy: goodPolicy(), ca, connect });
    const res = await axios.get(apiUrl("/axios"), { httpsAgent: good, proxy: false });
    assert.deepEqual(res.data, { ok: true, path: "/axios" });
    const bad = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
    const before = apiServer.requests.length;
    const error = await rejectionOf(axios.get(apiUrl("/secret"), { httpsAgent: bad, proxy: false }));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(apiServer.requests.length, before);
    good.destroy();
    bad.destroy();
  });

  test("axios keeps pinning when HTTPS_PROXY makes it replace the agent with its CONNECT tunnel", async () => {
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const saved = { ...process.env };
    process.env["HTTPS_PROXY"] = proxy.url;
    process.env["https_proxy"] = proxy.url;
    delete process.env["NO_PROXY"];
    delete process.env["no_proxy"];
    try {
      const good = createPinnedAgent({ policy: goodPolicy(), ca, connect });
      const res = await axios.get(apiUrl("/through-axios-proxy"), { httpsAgent: good });
      assert.deepEqual(res.data, { ok: true, path: "/through-axios-proxy" });
      const tunnels = proxy.tunnels.length;
      assert.ok(tunnels >= 1, "axios really went through the proxy (its own agent, not ours)");

      const bad = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
      const before = apiServer.requests.length;
      const error = await rejectionOf(axios.get(apiUrl("/secret"), { httpsAgent: bad }));
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
      assert.equal(proxy.tunnels.length, tunnels + 1, "the failing request went through the proxy too");
      assert.equal(apiServer.requests.length, before);
      good.destroy();
      bad.destroy();
    } finally {
      for (const key of ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });
});

describe("got with createPinnedAgent", () => {
  test("got with agent.https succeeds on a pinned chain and fails closed on a mismatch", async () => {
    const good = createPinnedAgent({ policy: goodPolicy(), ca, connect });
    const body = await got(apiUrl("/got"), { agent: { https: good }, retry: { limit: 0 } }).json();
    assert.deepEqual(body, { ok: true, path: "/got" });
    const bad = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
    const before = apiServer.requests.length;
    const error = await rejectionOf(got(apiUrl("/secret"), { agent: { https: bad }, retry: { limit: 0 } }));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(apiServer.requests.length, before);
    good.destroy();
    bad.destroy();
  });
});

describe("ws with createPinnedAgent", () => {
  const wsUrl = () => `wss://api.keypin.test:${apiServer.port}/socket`;

  test("a WebSocket opens and echoes on a pinned chain", async () => {
    const agent = createPinnedAgent({ policy: goodPolicy(), ca, connect });
    const socket = new WebSocket(wsUrl(), { agent });
    await once(socket, "open");
    socket.send("hello");
    const [data] = await once(socket, "message");
    assert.equal(String(data), "echo:hello");
    socket.close();
    await once(socket, "close");
    agent.destroy();
  });

  test("a WebSocket fails with ERR_KEYPIN_PIN_MISMATCH before the upgrade request is sent", async () => {
    const agent = createPinnedAgent({ policy: wrongPolicy(), ca, connect });
    const before = apiServer.requests.length;
    const socket = new WebSocket(wsUrl(), { agent });
    const [error] = await once(socket, "error").catch((e: unknown) => [e]);
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(apiServer.requests.length, before);
    agent.destroy();
  });
});

describe("tls.connect with pinnedTlsOptions", () => {
  const open = (options: ReturnType<typeof pinnedTlsOptions>) =>
    tlsConnect({ host: "127.0.0.1", port: apiServer.port, servername: "api.keypin.test", ...options });

  test("a raw TLS client connects and is authorized on a pinned chain", async () => {
    const socket: TLSSocket = open(pinnedTlsOptions({ policy: goodPolicy(), ca }));
    await once(socket, "secureConnect");
    assert.equal(socket.authorized, true);
    socket.end("GET /raw HTTP/1.1\r\nHost: api.keypin.test\r\nConnection: close\r\n\r\n");
    let text = "";
    socket.on("data", (chunk) => {
      text += chunk;
    });
    await once(socket, "close");
    assert.match(text, /"path":"\/raw"/);
  });

  test("a raw TLS client gets ERR_KEYPIN_PIN_MISMATCH and never emits secureConnect", async () => {
    const socket = open(pinnedTlsOptions({ policy: wrongPolicy(), ca }));
    let secure = false;
    socket.on("secureConnect", () => {
      secure = true;
    });
    const [error] = await once(socket, "error").catch((e: unknown) => [e]);
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(secure, false);
  });
});
