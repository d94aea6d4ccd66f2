// The host a request is addressed to, where the first fixes for it (bypass-attempts-host.test.ts) looked in the wrong
// place: an http2-wrapper session (got's h2) pooled by origin, carrying a stream whose `:authority` or `host` header
// names another host; an undici request whose absolute-form path names a pinned host on another origin (undici takes
// the TLS server name from `servername`, the Host header or the origin, never from the path); and Host, `:authority`
// or target values keypin cannot read a host from, which were skipped. Each test has an unpinned control that the
// attacker's server fools, then the pinned client refusing with nothing of the request reaching the server, and
// legitimate requests still going through. HOST is pinned to the genuine chain, OTHER is not pinned; the attacker holds
// a certificate for both from a CA the device trusts.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createSecureServer as createH2Server, connect as http2Connect } from "node:http2";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import {
  connectPinnedHttp2,
  createPinnedAgent,
  createPinnedDispatcher,
  createPinnedGotAgents,
  createPinnedHttp2Agent,
} from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  startHttpsServer,
  type TestChain,
  type TestServer,
  trackSockets,
} from "@keypin/testkit";
import got from "got";
import http2wrapper from "http2-wrapper";
import { type Dispatcher, Agent as UndiciAgent } from "undici";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
const TOKEN = "Bearer authority-secret";
const connect = { lookup: lookupLocal };
const quiet = { onWarning: () => {} };

let genuine: TestChain;
/** A genuine chain naming both hosts: HOST's pins are on it. */
let shared: TestChain;
let attacker: TestChain;
let evil: TestServer;
let honest: TestServer;

const trusted = () => [genuine.root.pem, shared.root.pem, attacker.root.pem];
const policy = () => policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin, shared.root.pin] });

before(async () => {
  genuine = await createChain("p256", [HOST], "authority genuine");
  shared = await createChain("p256", [HOST, OTHER], "authority shared");
  attacker = await createChain("p256", [HOST, OTHER], "authority attacker");
  evil = await startHttpsServer({ key: attacker.leaf.keyPem, cert: attacker.served });
  honest = await startHttpsServer({ key: shared.leaf.keyPem, cert: shared.served });
});
after(async () => {
  await evil.close();
  await honest.close();
});

/** An HTTP/2 server on `chain` recording each stream's :authority, host header and token, and TLS resumptions. */
async function startH2(chain: TestChain) {
  const requests: { authority: string | undefined; host: string | undefined; token: boolean }[] = [];
  const server = createH2Server({ key: chain.leaf.keyPem, cert: chain.served });
  const counts = { resumed: 0 };
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.isSessionReused()) counts.resumed++;
  });
  server.on("stream", (stream, headers) => {
    requests.push({
      authority: headers[":authority"],
      host: typeof headers.host === "string" ? headers.host : undefined,
      token: headers.authorization === TOKEN,
    });
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  const close = trackSockets(server as never);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, requests, counts, close };
}

/** A request through http2-wrapper on `agent`: the status, or the keypin error code. */
function viaWrapper(
  agent: unknown,
  url: string,
  headers: Record<string, string> = {},
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http2wrapper.request(
      url,
      {
        agent,
        lookup: lookupLocal,
        ca: trusted(),
        servername: new URL(url).hostname,
        headers: { authorization: TOKEN, ...headers },
      } as never,
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", (error) => resolve(keypinCodeOf(error) ?? String(error)));
    req.end();
  });
}

/** A request through got over h2 with `agent`: "200 h2", or the keypin error code. */
async function viaGot(
  agent: ReturnType<typeof createPinnedGotAgents>,
  url: string,
  headers: Record<string, string> = {},
): Promise<string> {
  try {
    const res = await got(url, {
      http2: true,
      agent,
      https: { certificateAuthority: trusted() },
      dnsLookup: lookupLocal as never,
      headers: { authorization: TOKEN, ...headers },
      retry: { limit: 0 },
    });
    return `${res.statusCode} h${res.httpVersion === "2.0" ? 2 : 1}`;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

/**
 * Requests to `url` until one rides a resumed TLS session (the server's TLS 1.3 ticket can arrive after the first
 * session closed): whether one did within five tries.
 */
async function resumedOn(h2: { counts: { resumed: number } }, agent: unknown, url: string): Promise<boolean> {
  const before = h2.counts.resumed;
  for (let i = 0; i < 5 && h2.counts.resumed === before; i++) {
    await sleep(20);
    assert.equal(await viaWrapper(agent, url), 200);
  }
  return h2.counts.resumed > before;
}

const gotAgents = () => createPinnedGotAgents({ policy: policy(), ca: trusted(), http2wrapper, ...quiet });

describe("http2-wrapper (got's h2): each stream's :authority and host header", () => {
  test("a session for an unpinned origin carries no stream addressed to a pinned host, new or reused", async () => {
    const h2 = await startH2(attacker);
    const url = `https://${OTHER}:${h2.port}/`;
    // Control: http2-wrapper's own agent sends both, and reuses OTHER's session for host: HOST.
    const plain = new http2wrapper.Agent();
    assert.equal(await viaWrapper(plain, url, { ":authority": HOST }), 200);
    assert.equal(await viaWrapper(plain, url, { host: HOST }), 200);
    plain.destroy();
    assert.deepEqual(
      h2.requests.splice(0).map((r) => r.authority === HOST || r.host === HOST),
      [true, true],
      "control: plain http2-wrapper is fooled",
    );

    const cases: Record<string, string>[] = [
      { ":authority": HOST },
      { host: HOST },
      { ":authority": `${HOST.toUpperCase()}:443` },
    ];
    for (const headers of cases) {
      // The request that opens the session, and one on a session opened (and checked) for OTHER.
      let agent = createPinnedHttp2Agent({ policy: policy(), ca: trusted(), http2wrapper, ...quiet });
      assert.equal(await viaWrapper(agent, url, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      agent.destroy();
      agent = createPinnedHttp2Agent({ policy: policy(), ca: trusted(), http2wrapper, ...quiet });
      assert.equal(await viaWrapper(agent, url), 200, "OTHER's own request goes on");
      assert.equal(await viaWrapper(agent, url, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      assert.equal(
        await viaWrapper(agent, url, { ":authority": OTHER }),
        200,
        "the session still serves OTHER",
      );
      agent.destroy();

      // got with createPinnedGotAgents({ http2wrapper }): the same, through got's h2 path.
      let agents = gotAgents();
      assert.equal(await viaGot(agents, url, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      agents.http2.destroy();
      agents.https.destroy();
      agents = gotAgents();
      assert.equal(await viaGot(agents, url), "200 h2");
      assert.equal(await viaGot(agents, url, headers), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(headers));
      agents.http2.destroy();
      agents.https.destroy();
    }
    assert.ok(
      !h2.requests.some((r) => /^api\./i.test(r.authority ?? "") || r.host === HOST),
      JSON.stringify(h2.requests),
    );
    assert.equal(h2.requests.length, 9);
    await h2.close();
  });

  test("a session resumed from one checked for OTHER still checks each stream on the original chain", async () => {
    const h2 = await startH2(attacker);
    const url = `https://${OTHER}:${h2.port}/`;
    // maxEmptySessions 0: each session closes after its stream, so the next one resumes the TLS session.
    const agent = createPinnedHttp2Agent({
      policy: policy(),
      ca: trusted(),
      http2wrapper,
      agent: { maxEmptySessions: 0 },
      ...quiet,
    });
    assert.equal(await viaWrapper(agent, url), 200);
    assert.ok(await resumedOn(h2, agent, url), "the agent resumes its own sessions");
    assert.equal(await viaWrapper(agent, url, { ":authority": HOST }), "ERR_KEYPIN_PIN_MISMATCH");
    agent.destroy();
    assert.ok(!h2.requests.some((r) => r.authority === HOST), JSON.stringify(h2.requests));
    await h2.close();
  });

  test("streams for a pinned host go through on a session whose chain carries its pins (resumed too)", async () => {
    const h2 = await startH2(shared);
    const agent = createPinnedHttp2Agent({
      policy: policy(),
      ca: trusted(),
      http2wrapper,
      agent: { maxEmptySessions: 0 },
      ...quiet,
    });
    const other = `https://${OTHER}:${h2.port}/`;
    assert.equal(await viaWrapper(agent, other, { ":authority": HOST }), 200);
    assert.equal(await viaWrapper(agent, other, { host: HOST }), 200);
    assert.ok(await resumedOn(h2, agent, other), "the agent resumes its own sessions");
    assert.equal(
      await viaWrapper(agent, other, { ":authority": HOST }),
      200,
      "resumed, the chain carries HOST's pins",
    );
    assert.equal(await viaWrapper(agent, `https://${HOST}:${h2.port}/`), 200);
    assert.equal(
      await viaWrapper(agent, `https://${HOST}:${h2.port}/`, { ":authority": `${HOST}:443` }),
      200,
    );
    agent.destroy();
    const agents = gotAgents();
    assert.equal(await viaGot(agents, other, { host: HOST }), "200 h2");
    assert.equal(await viaGot(agents, `https://${HOST}:${h2.port}/`), "200 h2");
    agents.http2.destroy();
    agents.https.destroy();
    assert.ok(h2.requests.length >= 7);
    await h2.close();
  });
});

/** An undici dispatch to `origin` with `path`: the status, or the keypin error code. */
async function viaDispatch(
  dispatcher: Dispatcher,
  origin: string,
  path: string,
  options: { headers?: Record<string, string>; servername?: string } = {},
): Promise<number | string> {
  try {
    const res = await dispatcher.request({
      origin,
      path,
      method: "GET",
      headers: { authorization: TOKEN, ...(options.headers ?? {}) },
      ...(options.servername ? { servername: options.servername } : {}),
    } as Dispatcher.RequestOptions);
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

/** What reached `server` since `from`: each request's target and Host header, and whether it carried TOKEN. */
function seen(server: TestServer, from: number) {
  return server.requests
    .slice(from)
    .map((r) => ({ url: r.url, host: r.headers.host, token: r.headers.authorization === TOKEN }));
}

describe("undici: the server name undici connects for, and an absolute-form path", () => {
  test("an absolute-form path naming a pinned host, on another origin, is refused before any connection", async () => {
    const origin = `https://${OTHER}:${evil.port}`;
    let from = evil.requests.length;
    const plain = new UndiciAgent({ connect: { ca: trusted(), ...connect } });
    assert.equal(await viaDispatch(plain, origin, `https://${HOST}/secret`), 200);
    await plain.close();
    assert.deepEqual(
      seen(evil, from).map((r) => r.url),
      [`https://${HOST}/secret`],
      "control: plain undici sends it",
    );

    from = evil.requests.length;
    const connections = evil.connections;
    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect, ...quiet });
    for (const path of [`https://${HOST}/secret`, `http://${HOST.toUpperCase()}:8080/secret`]) {
      assert.equal(await viaDispatch(d, origin, path), "ERR_KEYPIN_OPTIONS", path);
      assert.equal(await viaDispatch(d, origin, path, { headers: { host: OTHER } }), "ERR_KEYPIN_OPTIONS");
      assert.equal(await viaDispatch(d, origin, path, { servername: OTHER }), "ERR_KEYPIN_OPTIONS");
    }
    assert.equal(evil.connections, connections, "no connection was made");
    // A Host header naming HOST makes undici connect (and keypin check) for HOST: the handshake refuses it.
    assert.equal(
      await viaDispatch(d, origin, `https://${HOST}/secret`, { headers: { host: HOST } }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    assert.equal(await viaDispatch(d, origin, `https://${OTHER}/x`), 200, "an unpinned target goes on");
    assert.equal(await viaDispatch(d, origin, "/"), 200);
    await d.close();
    assert.deepEqual(
      seen(evil, from).map((r) => r.url),
      [`https://${OTHER}/x`, "/"],
    );
  });

  test("the server name is computed as undici does: connect.servername and the Host header cover the target", async () => {
    // connect.servername HOST: undici connects for HOST, so a target naming HOST is checked at the handshake.
    const named = createPinnedDispatcher({
      policy: policy(),
      ca: trusted(),
      connect: { ...connect, servername: HOST },
      ...quiet,
    });
    const from = evil.requests.length;
    assert.equal(
      await viaDispatch(named, `https://${OTHER}:${evil.port}`, `https://${HOST}/secret`),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    assert.equal(evil.requests.length, from);
    assert.equal(await viaDispatch(named, `https://${OTHER}:${honest.port}`, `https://${HOST}/secret`), 200);
    await named.close();

    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect, ...quiet });
    const at = honest.requests.length;
    assert.equal(await viaDispatch(d, `https://${HOST}:${honest.port}`, `https://${HOST}/secret`), 200);
    assert.equal(
      await viaDispatch(d, `https://${OTHER}:${honest.port}`, `https://${HOST}/secret`, {
        headers: { host: HOST },
      }),
      200,
    );
    assert.equal(
      await viaDispatch(d, `https://${OTHER}:${honest.port}`, "/", {
        headers: { host: `${HOST}:${honest.port}` },
      }),
      200,
    );
    await d.close();
    assert.equal(honest.requests.length, at + 3);
  });
});

/** An https request to OTHER on `agent` with the Host header set to `host` and `path`: status or keypin code. */
function viaAgent(
  agent: HttpsAgent,
  port: number,
  how: { host?: string; path?: string },
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest({
      host: OTHER,
      port,
      path: how.path ?? "/",
      agent,
      lookup: lookupLocal,
      headers: { authorization: TOKEN },
    } as RequestOptions);
    if (how.host !== undefined) req.setHeader("Host", how.host);
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", (error) => resolve(keypinCodeOf(error) ?? String(error)));
    req.end();
  });
}

/**
 * A lenient HTTP/1.1 server on `chain` (raw TLS): it answers every request head and records its target and Host
 * header, as a server whose router reads the target with a URL parser would (Node's own server answers 400 to an
 * `https:host` target).
 */
async function startRawServer(chain: TestChain) {
  const heads: { target: string; host: string | undefined; token: boolean }[] = [];
  const server = createTlsServer({ key: chain.leaf.keyPem, cert: chain.served }, (socket) => {
    let buffered = "";
    socket.on("data", (data: Buffer) => {
      buffered += data.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const lines = buffered.slice(0, end).split("\r\n");
        buffered = buffered.slice(end + 4);
        const header = (name: string) =>
          lines
            .find((l) => l.toLowerCase().startsWith(`${name}:`))
            ?.slice(name.length + 1)
            .trim();
        heads.push({
          target: lines[0]?.split(" ")[1] ?? "",
          host: header("host"),
          token: header("authorization") === TOKEN,
        });
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      }
    });
    socket.on("error", () => {});
  });
  const close = trackSockets(server as never);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, heads, close };
}

/** One request on an HTTP/2 session: the status, or the keypin error code. */
async function onSession(
  session: ReturnType<typeof http2Connect>,
  headers: Record<string, string>,
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

describe("Host, :authority and target values keypin cannot read a host from are refused, not skipped", () => {
  const unreadable = [`${HOST}:99999`, `${HOST} x`, `${HOST}:0x1`];

  test("node:https: a Host header the URL parser rejects, or an https:host target, names a pinned host to a server", async () => {
    // Control: the plain agent sends them, and a URL parser on the server reads HOST from the target.
    const raw = await startRawServer(attacker);
    const plain = new HttpsAgent({ ca: trusted() });
    assert.equal(await viaAgent(plain, raw.port, { host: `${HOST}:99999` }), 200);
    assert.equal(await viaAgent(plain, raw.port, { path: `https:${HOST}/secret` }), 200);
    plain.destroy();
    const sent = raw.heads.splice(0);
    assert.equal(sent[0]?.host, `${HOST}:99999`, "control: the Host header reaches the server");
    assert.equal(
      new URL(sent[1]?.target ?? "").hostname,
      HOST,
      "control: a URL parser reads HOST from the target",
    );
    assert.ok(sent.every((r) => r.token));

    const agent = createPinnedAgent({
      policy: policy(),
      ca: trusted(),
      agent: { keepAlive: true },
      ...quiet,
    });
    for (const host of [`${HOST}:99999`, `${HOST} x`, "a@b"]) {
      assert.equal(await viaAgent(agent, raw.port, { host }), "ERR_KEYPIN_OPTIONS", host);
    }
    // An `https:host` target is read as a URL parser reads it (HOST here, so HOST's pins are checked); a target
    // keypin cannot read at all is refused.
    for (const path of [`https:${HOST}/secret`, `HTTPS:${HOST}/secret`, `http:/${HOST}/secret`]) {
      assert.equal(await viaAgent(agent, raw.port, { path }), "ERR_KEYPIN_PIN_MISMATCH", path);
    }
    for (const path of ["https://", `${HOST}/secret`, "https:/"]) {
      assert.equal(await viaAgent(agent, raw.port, { path }), "ERR_KEYPIN_OPTIONS", path);
    }
    // Ordinary requests are untouched: an unpinned Host header, origin-form targets, `*`, absolute OTHER.
    assert.equal(await viaAgent(agent, raw.port, {}), 200);
    assert.equal(await viaAgent(agent, raw.port, { host: `${OTHER}:${raw.port}` }), 200);
    assert.equal(await viaAgent(agent, raw.port, { path: "/a?b=c:d" }), 200);
    assert.equal(await viaAgent(agent, raw.port, { path: "*" }), 200);
    assert.equal(await viaAgent(agent, raw.port, { path: `https://${OTHER}/x` }), 200);
    agent.destroy();
    assert.deepEqual(
      raw.heads.map((r) => r.target),
      ["/", "/", "/a?b=c:d", "*", `https://${OTHER}/x`],
    );
    assert.ok(!raw.heads.some((r) => r.host?.toLowerCase().includes("api.")));
    await raw.close();
  });

  test("undici: a Host header keypin cannot read, with servername OTHER, is refused", async () => {
    const origin = `https://${OTHER}:${evil.port}`;
    let from = evil.requests.length;
    const plain = new UndiciAgent({ connect: { ca: trusted(), ...connect } });
    assert.equal(
      await viaDispatch(plain, origin, "/", { headers: { host: `${HOST}:99999` }, servername: OTHER }),
      200,
    );
    await plain.close();
    assert.equal(seen(evil, from)[0]?.host, `${HOST}:99999`, "control: plain undici sends it");

    from = evil.requests.length;
    const d = createPinnedDispatcher({ policy: policy(), ca: trusted(), connect, ...quiet });
    for (const host of unreadable) {
      assert.equal(
        await viaDispatch(d, origin, "/", { headers: { host }, servername: OTHER }),
        "ERR_KEYPIN_OPTIONS",
        JSON.stringify(host),
      );
    }
    assert.equal(
      await viaDispatch(d, origin, "/", { headers: { host: `${OTHER}:1` }, servername: OTHER }),
      200,
    );
    assert.equal(await viaDispatch(d, origin, "/"), 200);
    await d.close();
    assert.equal(evil.requests.length, from + 2);
  });

  test("HTTP/2: an :authority keypin cannot read is refused on a pinned session", async () => {
    const h2 = await startH2(attacker);
    const url = `https://${OTHER}:${h2.port}`;
    const plain = http2Connect(url, { ca: trusted(), ...connect });
    assert.equal(await onSession(plain, { ":authority": `${HOST}:99999` }), "200");
    plain.destroy();
    assert.equal(h2.requests.splice(0)[0]?.authority, `${HOST}:99999`, "control: the plain session sends it");

    const session = connectPinnedHttp2(url, { policy: policy(), ca: trusted(), connect, ...quiet });
    assert.equal(await onSession(session, {}), "200");
    for (const authority of [`${HOST}:99999`, `${HOST} x`]) {
      assert.equal(await onSession(session, { ":authority": authority }), "ERR_KEYPIN_OPTIONS", authority);
      assert.equal(await onSession(session, { host: authority }), "ERR_KEYPIN_OPTIONS", authority);
    }
    assert.equal(await onSession(session, { ":authority": `${OTHER}:${h2.port}` }), "200");
    session.destroy();
    const agent = createPinnedHttp2Agent({ policy: policy(), ca: trusted(), http2wrapper, ...quiet });
    assert.equal(await viaWrapper(agent, `${url}/`, { ":authority": `${HOST}:99999` }), "ERR_KEYPIN_OPTIONS");
    assert.equal(await viaWrapper(agent, `${url}/`), 200);
    agent.destroy();
    assert.deepEqual(
      h2.requests.map((r) => r.authority),
      [`${OTHER}:${h2.port}`, `${OTHER}:${h2.port}`, `${OTHER}:${h2.port}`],
    );
    await h2.close();
  });
});
