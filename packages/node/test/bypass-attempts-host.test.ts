// The host a request is addressed to (its Host header, an HTTP/2 :authority) is not always the host its socket's chain
// was checked for: a Host header set after the socket was made, a keep-alive socket or a resumed TLS session reused
// for another Host header, a `servername` that names another host, an HTTP/2 stream on a session made for another
// origin. Each test has an unpinned control that the attacker's server fools, then the pinned client refusing, with
// nothing of the request reaching the server. The attacker holds a certificate for every name from a CA the device
// trusts; HOST is pinned to the genuine chain, OTHER is not pinned.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createSecureServer as createH2Server, connect as http2Connect } from "node:http2";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  connectPinnedHttp2,
  createPinnedAgent,
  createPinnedDispatcher,
  pinnedTlsOptions,
} from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  rejectionOf,
  startHttpsServer,
  type TestChain,
  type TestServer,
  trackSockets,
} from "@keypin/testkit";
import axios from "axios";
import {
  type Dispatcher,
  Agent as UndiciAgent,
  Request as UndiciRequest,
  Response as UndiciResponse,
  fetch as undiciFetch,
  request as undiciRequest,
} from "undici";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
const TOKEN = "Bearer host-binding-secret";
const connect = { lookup: lookupLocal };

let genuine: TestChain;
/** A genuine chain naming both hosts: HOST's pins are on it, so a request for HOST may use its connections. */
let shared: TestChain;
let attacker: TestChain;
let evil: TestServer;
let honest: TestServer;

const trusted = () => [genuine.root.pem, shared.root.pem, attacker.root.pem];
const policy = () => policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin, shared.root.pin] });
const quiet = { onWarning: () => {} };

before(async () => {
  genuine = await createChain("p256", [HOST], "host-binding genuine");
  shared = await createChain("p256", [HOST, OTHER], "host-binding shared");
  attacker = await createChain("p256", [HOST, OTHER, "127.0.0.1"], "host-binding attacker");
  evil = await startHttpsServer({ key: attacker.leaf.keyPem, cert: attacker.served });
  honest = await startHttpsServer({ key: shared.leaf.keyPem, cert: shared.served });
});
after(async () => {
  await evil.close();
  await honest.close();
});

/** What reached `server` since `from`: each request's Host header and whether it carried TOKEN. */
function seen(server: TestServer, from: number): { host: string | undefined; token: boolean }[] {
  return server.requests
    .slice(from)
    .map((r) => ({ host: r.headers.host, token: r.headers.authorization === TOKEN }));
}

/** An https request to OTHER on `agent`: the status, or the keypin error code. */
function viaAgent(
  agent: HttpsAgent,
  port: number,
  how: { header?: string; setHeader?: string; servername?: string } = {},
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(`https://${OTHER}:${port}/`, {
      agent,
      lookup: lookupLocal,
      ...(how.servername ? { servername: how.servername } : {}),
      headers: { authorization: TOKEN, ...(how.header ? { host: how.header } : {}) },
    } as RequestOptions);
    if (how.setHeader) req.setHeader("Host", how.setHeader);
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", (error) => resolve(keypinCodeOf(error) ?? String(error)));
    req.end();
  });
}

async function viaUndici(dispatcher: Dispatcher, url: string, options: Record<string, unknown> = {}) {
  try {
    const res = await undiciRequest(url, {
      dispatcher,
      ...options,
      headers: Array.isArray(options["headers"])
        ? ["authorization", TOKEN, ...options["headers"]]
        : { authorization: TOKEN, ...((options["headers"] as object) ?? {}) },
    });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

describe("node:https: the Host header a request is sent with", () => {
  test("a Host header set with setHeader() after https.request() is pinned like one in the options", async () => {
    let from = evil.requests.length;
    const plain = new HttpsAgent({ ca: trusted() });
    assert.equal(await viaAgent(plain, evil.port, { setHeader: HOST }), 200);
    plain.destroy();
    assert.deepEqual(seen(evil, from), [{ host: HOST, token: true }], "control: the plain agent is fooled");

    from = evil.requests.length;
    const agent = createPinnedAgent({ policy: policy(), ca: trusted(), ...quiet });
    assert.equal(await viaAgent(agent, evil.port, { setHeader: HOST }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(
      await viaAgent(agent, evil.port, { setHeader: OTHER }),
      200,
      "an unpinned Host header goes on",
    );
    assert.equal(await viaAgent(agent, evil.port), 200, "the unpinned URL host alone goes on");
    agent.destroy();
    assert.ok(!seen(evil, from).some((r) => r.host === HOST), JSON.stringify(seen(evil, from)));
    assert.equal(evil.requests.length, from + 2);
  });

  test("a Host header naming a pinned host passes when the socket's chain carries that host's pins", async () => {
    const from = honest.requests.length;
    const agent = createPinnedAgent({
      policy: policy(),
      ca: trusted(),
      agent: { keepAlive: true },
      ...quiet,
    });
    assert.equal(await viaAgent(agent, honest.port, { setHeader: HOST }), 200);
    assert.equal(await viaAgent(agent, honest.port), 200);
    assert.equal(await viaAgent(agent, honest.port, { header: HOST }), 200);
    assert.equal(await viaAgent(agent, honest.port, { setHeader: HOST }), 200);
    agent.destroy();
    assert.equal(honest.requests.length, from + 4);
  });

  test("a keep-alive socket checked for another host refuses a request whose Host header names a pinned one", async () => {
    let from = evil.requests.length;
    const plain = new HttpsAgent({ ca: trusted(), keepAlive: true });
    assert.equal(await viaAgent(plain, evil.port, { servername: OTHER }), 200);
    assert.equal(await viaAgent(plain, evil.port, { servername: OTHER, header: HOST }), 200);
    plain.destroy();
    assert.equal(seen(evil, from)[1]?.host, HOST, "control: the reused socket carries HOST's request");

    for (const how of [{ servername: OTHER, header: HOST }, { setHeader: HOST }]) {
      from = evil.requests.length;
      const connections = evil.connections;
      const agent = createPinnedAgent({
        policy: policy(),
        ca: trusted(),
        agent: { keepAlive: true },
        ...quiet,
      });
      assert.equal(await viaAgent(agent, evil.port, { servername: OTHER }), 200);
      assert.equal(await viaAgent(agent, evil.port, how), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(how));
      assert.equal(await viaAgent(agent, evil.port, { servername: OTHER }), 200, "OTHER alone still works");
      agent.destroy();
      assert.equal(evil.requests.length, from + 2, JSON.stringify(seen(evil, from)));
      assert.ok(!seen(evil, from).some((r) => r.host === HOST));
      assert.ok(evil.connections - connections <= 2);
    }
  });

  test("a TLS session checked for another host is not resumed for a request whose Host header names a pinned one", async () => {
    let from = evil.requests.length;
    const plain = new HttpsAgent({ ca: trusted() });
    assert.equal(await viaAgent(plain, evil.port, { servername: OTHER }), 200);
    assert.equal(await viaAgent(plain, evil.port, { servername: OTHER, header: HOST }), 200);
    plain.destroy();
    assert.equal(seen(evil, from)[1]?.host, HOST, "control: the second connection carries HOST's request");

    // The Host header in the options: the session is not offered, the full handshake is checked for HOST.
    from = evil.requests.length;
    const resumptions = evil.resumptions;
    let agent = createPinnedAgent({ policy: policy(), ca: trusted(), ...quiet });
    assert.equal(await viaAgent(agent, evil.port, { servername: OTHER }), 200);
    assert.equal(
      await viaAgent(agent, evil.port, { servername: OTHER, header: HOST }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    assert.equal(evil.resumptions, resumptions, "no session was resumed for HOST");
    assert.equal(await viaAgent(agent, evil.port, { servername: OTHER }), 200);
    assert.ok(evil.resumptions > resumptions, "OTHER's session is still resumed for OTHER");
    agent.destroy();
    assert.equal(evil.requests.length, from + 2);

    // A Host header set after the connection offered OTHER's session (the options had none): the client resumes it,
    // and the request is checked on the chain of the handshake it resumes, before a byte of it is written (the
    // client gives up before its Finished, so the server sees no completed handshake).
    from = evil.requests.length;
    const handshakes = evil.handshakes + evil.resumptions;
    agent = createPinnedAgent({ policy: policy(), ca: trusted(), ...quiet });
    assert.equal(await viaAgent(agent, evil.port), 200);
    assert.equal(await viaAgent(agent, evil.port, { setHeader: HOST }), "ERR_KEYPIN_PIN_MISMATCH");
    agent.destroy();
    assert.equal(evil.handshakes + evil.resumptions, handshakes + 1, "only the first handshake completed");
    assert.equal(evil.requests.length, from + 1, JSON.stringify(seen(evil, from)));
  });

  test("resumed sessions still serve requests whose Host header the original handshake's chain covers", async () => {
    const from = honest.requests.length;
    const resumptions = honest.resumptions;
    const agent = createPinnedAgent({ policy: policy(), ca: trusted(), ...quiet });
    for (let i = 0; i < 3; i++) {
      assert.equal(await viaAgent(agent, honest.port), 200);
      assert.equal(await viaAgent(agent, honest.port, { setHeader: HOST }), 200);
    }
    agent.destroy();
    assert.equal(honest.requests.length, from + 6);
    assert.ok(honest.resumptions - resumptions >= 4, `${honest.resumptions - resumptions} resumed`);
  });
});

describe("undici: a dispatch's servername and Host header", () => {
  test("a servername naming an unpinned host cannot carry a Host header naming a pinned one", async () => {
    const url = `https://${OTHER}:${evil.port}/`;
    let from = evil.requests.length;
    const plain = new UndiciAgent({ connect: { ca: trusted(), ...connect } });
    assert.equal(await viaUndici(plain, url, { headers: { host: HOST }, servername: OTHER }), 200);
    await plain.close();
    assert.deepEqual(seen(evil, from), [{ host: HOST, token: true }], "control: plain undici is fooled");

    from = evil.requests.length;
    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect, ...quiet });
    for (const headers of [{ host: HOST }, { Host: `${HOST.toUpperCase()}:443` }, ["host", HOST]]) {
      assert.equal(
        await viaUndici(d, url, { headers, servername: OTHER }),
        "ERR_KEYPIN_OPTIONS",
        JSON.stringify(headers),
      );
    }
    assert.equal(await viaUndici(d, url, { headers: { host: HOST } }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaUndici(d, url, { headers: { host: OTHER }, servername: OTHER }), 200);
    assert.equal(await viaUndici(d, url, { servername: OTHER }), 200);
    await d.close();
    assert.equal(evil.requests.length, from + 2);
    assert.ok(!seen(evil, from).some((r) => r.host === HOST));
  });

  test("a servername that names the Host header's host, or no servername, reaches a server holding its pins", async () => {
    const url = `https://${OTHER}:${honest.port}/`;
    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect, ...quiet });
    assert.equal(await viaUndici(d, url, { headers: { host: HOST }, servername: HOST }), 200);
    assert.equal(await viaUndici(d, url, { headers: { host: HOST } }), 200);
    await d.close();
  });
});

/** An HTTP/2 (and HTTP/1.1) server on `chain` recording each request's :authority (or Host) and token. */
async function startH2(chain: TestChain) {
  const requests: { authority: string | undefined; token: boolean }[] = [];
  const server = createH2Server({ key: chain.leaf.keyPem, cert: chain.served, allowHTTP1: true });
  server.on("request", (req, res) => {
    const authority = req.headers[":authority"] ?? req.headers.host;
    requests.push({ authority: String(authority), token: req.headers.authorization === TOKEN });
    res.end("ok");
  });
  const close = trackSockets(server as never);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, requests, close };
}

/** One request on an HTTP/2 session: the status, or the keypin error code. */
async function onSession(
  session: ReturnType<typeof http2Connect>,
  headers: Record<string, string | undefined>,
): Promise<string> {
  const failed = new Promise<never>((_, reject) => session.once("error", reject));
  failed.catch(() => {});
  try {
    const stream = session.request({ ":path": "/", authorization: TOKEN, ...headers });
    stream.on("error", () => {});
    stream.end();
    const [answer] = (await Promise.race([once(stream, "response"), failed])) as [Record<string, unknown>];
    stream.resume();
    return String(answer[":status"]);
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

describe("node:http2: the :authority of each stream", () => {
  test("pinnedTlsOptions pins the session's host only; connectPinnedHttp2 checks every stream's :authority", async () => {
    const h2 = await startH2(attacker);
    const url = `https://${OTHER}:${h2.port}`;
    // Control, and what pinnedTlsOptions alone does (the README says so): the stream for HOST goes out.
    const plain = http2Connect(url, { ca: trusted(), ...connect });
    assert.equal(await onSession(plain, { ":authority": HOST }), "200");
    plain.destroy();
    const tlsOnly = http2Connect(url, {
      ...connect,
      ...pinnedTlsOptions({ policy: policy(), ca: trusted() }),
    });
    assert.equal(await onSession(tlsOnly, { ":authority": HOST }), "200");
    tlsOnly.destroy();
    assert.deepEqual(h2.requests.splice(0), [
      { authority: HOST, token: true },
      { authority: HOST, token: true },
    ]);

    for (const headers of [
      { ":authority": HOST },
      { host: HOST },
      { ":authority": `${HOST.toUpperCase()}:443` },
    ]) {
      // Asked while the session is handshaking: the handshake checks it and fails the session.
      const early = connectPinnedHttp2(url, { policy: policy(), ca: trusted(), connect, ...quiet });
      assert.equal(await onSession(early, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      early.destroy();
      // Asked on a session that is up (checked for OTHER): request() throws, nothing is sent.
      const up = connectPinnedHttp2(url, { policy: policy(), ca: trusted(), connect, ...quiet });
      assert.equal(await onSession(up, {}), "200", "OTHER's own stream goes on");
      assert.equal(await onSession(up, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      assert.equal(await onSession(up, { ":authority": OTHER }), "200", "the session still serves OTHER");
      up.destroy();
    }
    assert.ok(!h2.requests.some((r) => r.authority?.startsWith(HOST) || r.authority?.startsWith("API")));
    assert.equal(h2.requests.length, 6);
    await h2.close();
  });

  test("connectPinnedHttp2 lets a stream for a pinned host through when the session's chain carries its pins", async () => {
    const h2 = await startH2(shared);
    const session = connectPinnedHttp2(`https://${OTHER}:${h2.port}`, {
      policy: policy(),
      ca: trusted(),
      connect,
    });
    assert.equal(await onSession(session, { ":authority": HOST }), "200");
    assert.equal(await onSession(session, { ":authority": HOST }), "200");
    session.destroy();
    const pinnedHost = connectPinnedHttp2(`https://${HOST}:${h2.port}`, {
      policy: policy(),
      ca: trusted(),
      connect,
    });
    assert.equal(await onSession(pinnedHost, {}), "200");
    pinnedHost.destroy();
    assert.equal(h2.requests.length, 3);
    await h2.close();
    assert.throws(
      () => connectPinnedHttp2("https://x.test", { policy: policy(), http2: { ca: "x" } as never }),
      (error: unknown) => keypinCodeOf(error) === "ERR_KEYPIN_OPTIONS",
    );
  });
});

describe("axios over HTTP/2", () => {
  test("http2Options: pinnedTlsOptions pins the URL's host only; the README's recipe (fetch adapter, pinned allowH2 dispatcher) sends nothing addressed to an unchecked pinned host", async () => {
    const h2 = await startH2(attacker);
    const url = `https://${OTHER}:${h2.port}/`;
    const headers = { host: HOST, authorization: TOKEN };
    // What the old recipe did: axios builds its own sessions, keypin never sees the Host header.
    const http2Options = pinnedTlsOptions({ policy: policy(), ca: trusted(), connect, ...quiet });
    const old = await axios.get(url, { headers, httpVersion: 2, http2Options } as never);
    assert.equal(old.status, 200);
    assert.deepEqual(h2.requests.splice(0), [{ authority: HOST, token: true }]);

    const dispatcher = createPinnedDispatcher({
      policy: policy(),
      ca: trusted(),
      connect,
      agent: { allowH2: true },
      ...quiet,
    });
    try {
      // fetch drops a Host header (a forbidden header name): the request is addressed to the URL's host, pinned or
      // not, whatever the caller's headers say.
      const client = axios.create({
        adapter: "fetch",
        // axios builds its Request with env.Request: undici's, which undici's fetch takes (Node 20's global is older).
        env: { fetch: undiciFetch, Request: UndiciRequest, Response: UndiciResponse } as never,
        fetchOptions: { dispatcher },
      });
      assert.equal((await client.get(url, { headers })).status, 200);
      assert.deepEqual(h2.requests.splice(0), [{ authority: `${OTHER}:${h2.port}`, token: true }]);
      const pinned = await rejectionOf(client.get(`https://${HOST}:${h2.port}/`, { headers }));
      assert.equal(keypinCodeOf(pinned), "ERR_KEYPIN_PIN_MISMATCH");
      // undici's own request API does send the Host header (as :authority over h2): the dispatcher pins it.
      assert.equal(await viaUndici(dispatcher, url, { headers: { host: HOST } }), "ERR_KEYPIN_PIN_MISMATCH");
      assert.equal(
        await viaUndici(dispatcher, url, { headers: { host: HOST }, servername: OTHER }),
        "ERR_KEYPIN_OPTIONS",
      );
      assert.deepEqual(h2.requests, []);
    } finally {
      await dispatcher.close();
      await h2.close();
    }
  });
});
