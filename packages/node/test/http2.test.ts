// HTTP/2 is pinned or refused, never silently unpinned (issue 12, class 6). Each client the README names that can
// speak h2 is tried against real servers offering h2 and http/1.1 in ALPN (node:http2 with allowHTTP1): the
// attacker's, with a certificate for the pinned host from a CA the device trusts (key not pinned), and the genuine
// one. For each: an unpinned control that hands the attacker its token over h2, then the pinned client refusing.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createSecureServer, type Http2ServerRequest, connect as http2Connect } from "node:http2";
import { after, before, describe, test } from "node:test";
import {
  createPinnedAgent,
  createPinnedDispatcher,
  createPinnedGotAgents,
  createPinnedHttp2Agent,
  pinnedTlsOptions,
} from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  rejectionOf,
  type TestChain,
  trackSockets,
} from "@keypin/testkit";
import axios from "axios";
import got, { type Agents } from "got";
import http2wrapper from "http2-wrapper";
import { type Dispatcher, Agent as UndiciAgent, request as undiciRequest } from "undici";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
const TOKEN = "Bearer http2-secret";

interface H2Server {
  port: number;
  /** HTTP/2 sessions accepted. */
  sessions: number;
  /** Requests received: protocol version, authority and whether the token came with it. */
  requests: { version: string; authority: string; token: boolean }[];
  close: () => Promise<void>;
}

/** A node:http2 server offering h2 and http/1.1; `origins` are sent in an RFC 8336 ORIGIN frame on each session. */
async function startH2Server(chain: TestChain, origins?: (port: number) => string[]): Promise<H2Server> {
  const server = createSecureServer({ key: chain.leaf.keyPem, cert: chain.served, allowHTTP1: true });
  const result: H2Server = { port: 0, sessions: 0, requests: [], close: trackSockets(server as never) };
  server.on("session", (session) => {
    result.sessions++;
    if (origins) session.origin(...origins(result.port));
  });
  server.on("request", (req: Http2ServerRequest, res) => {
    result.requests.push({
      version: req.httpVersion,
      authority: String(req.headers[":authority"] ?? req.headers.host),
      token: req.headers.authorization === TOKEN,
    });
    res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  result.port = (server.address() as { port: number }).port;
  return result;
}

let genuine: TestChain;
let attacker: TestChain;
let evil: H2Server;
let real: H2Server;
const trusted = () => [genuine.root.pem, attacker.root.pem];
const policy = () => policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin] });
const stolen = () => evil.requests.filter((r) => r.token);

before(async () => {
  genuine = await createChain("p256", [HOST], "h2 genuine");
  attacker = await createChain("p256", [HOST, OTHER], "h2 attacker");
  evil = await startH2Server(attacker);
  real = await startH2Server(genuine);
});
after(async () => {
  await evil.close();
  await real.close();
});

/** A got request with the token; the status and HTTP version, or the keypin error code. */
async function viaGot(
  url: string,
  options: { agent: Agents; https?: Record<string, unknown>; http2?: boolean },
) {
  try {
    const res = await got(url, {
      http2: options.http2 ?? true,
      agent: options.agent,
      https: { certificateAuthority: trusted(), ...options.https },
      dnsLookup: lookupLocal as never,
      headers: { authorization: TOKEN },
      retry: { limit: 0 },
    });
    return `${res.statusCode} HTTP/${res.httpVersion}`;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

describe("got with http2: true", () => {
  test("control: got's http2 with the pinned https agent alone negotiates h2 through http2-wrapper's agent and leaks the token", async () => {
    const before = stolen().length;
    const agent = createPinnedAgent({ policy: policy(), ca: trusted(), connect: { lookup: lookupLocal } });
    assert.equal(await viaGot(`https://${HOST}:${evil.port}/`, { agent: { https: agent } }), "200 HTTP/2.0");
    agent.destroy();
    assert.equal(stolen().length, before + 1);
    assert.equal(stolen().at(-1)?.version, "2.0");
  });

  test("createPinnedGotAgents without http2-wrapper refuses loudly when got would speak h2", async () => {
    const before = evil.requests.length;
    const agent = createPinnedGotAgents({ policy: policy(), ca: trusted() });
    const error = await rejectionOf(
      got(`https://${HOST}:${evil.port}/`, {
        http2: true,
        agent,
        https: { certificateAuthority: trusted() },
        dnsLookup: lookupLocal as never,
        headers: { authorization: TOKEN },
        retry: { limit: 0 },
      }),
    );
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_OPTIONS");
    assert.match(String((error as Error).message), /http2-wrapper/);
    agent.https.destroy();
    assert.equal(evil.requests.length, before, "no request reached the attacker");
    // Without got's http2 option, the same agents pin HTTP/1.1.
    const h1 = createPinnedGotAgents({ policy: policy(), ca: trusted(), connect: { lookup: lookupLocal } });
    assert.equal(
      await viaGot(`https://${HOST}:${evil.port}/`, { agent: h1, http2: false }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    assert.equal(await viaGot(`https://${HOST}:${real.port}/`, { agent: h1, http2: false }), "200 HTTP/1.1");
    h1.https.destroy();
    assert.equal(evil.requests.length, before, "no request reached the attacker");
  });

  test("createPinnedGotAgents with http2-wrapper pins h2: the attacker is refused, the genuine server answers over h2", async () => {
    const before = evil.requests.length;
    const agent = createPinnedGotAgents({ policy: policy(), ca: trusted(), http2wrapper });
    assert.equal(await viaGot(`https://${HOST}:${evil.port}/`, { agent }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaGot(`https://${HOST}:${real.port}/`, { agent }), "200 HTTP/2.0");
    agent.https.destroy();
    agent.http2.destroy();
    assert.equal(evil.requests.length, before);
  });

  test("the pinned h2 agent refuses got options that would switch its checks off", async () => {
    const before = evil.requests.length;
    const http2 = createPinnedHttp2Agent({ policy: policy(), ca: trusted(), http2wrapper });
    for (const https of [{ rejectUnauthorized: false }, { checkServerIdentity: () => undefined }]) {
      assert.equal(
        await viaGot(`https://${HOST}:${evil.port}/`, { agent: { http2 }, https }),
        "ERR_KEYPIN_OPTIONS",
      );
    }
    http2.destroy();
    assert.equal(evil.requests.length, before);
  });
});

/** An http2-wrapper request (no ALPN probe) with the token: status, or the keypin error code. */
function viaWrapper(url: string, agent: unknown, options: Record<string, unknown>): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http2wrapper.request(
      url,
      // The server name as got passes it (http2-wrapper's origin check needs it said).
      {
        agent,
        lookup: lookupLocal,
        servername: new URL(url).hostname,
        headers: { authorization: TOKEN },
        ...options,
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

describe("http2-wrapper's own request with the pinned h2 agent", () => {
  test("control: a plain agent hands the token over, also when the server name (Host header) names an unpinned host; the pinned agent refuses both", async () => {
    const before = stolen().length;
    const url = `https://${HOST}:${evil.port}/`;
    const plain = new http2wrapper.Agent();
    assert.equal(await viaWrapper(url, plain, { ca: trusted() }), 200);
    assert.equal(await viaWrapper(url, plain, { ca: trusted(), servername: OTHER }), 200);
    plain.destroy();
    assert.equal(stolen().length, before + 2);
    const pinned = createPinnedHttp2Agent({ policy: policy(), ca: trusted(), http2wrapper });
    assert.equal(await viaWrapper(url, pinned, {}), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaWrapper(url, pinned, { servername: OTHER }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaWrapper(`https://${HOST}:${real.port}/`, pinned, {}), 200);
    pinned.destroy();
    assert.equal(stolen().length, before + 2);
  });
});

/** An undici request with the token: status, or the keypin error code. */
async function viaUndici(dispatcher: Dispatcher, url: string) {
  try {
    const res = await undiciRequest(url, { dispatcher, headers: { authorization: TOKEN } });
    await res.body.text();
    return res.statusCode;
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  }
}

describe("undici with allowH2", () => {
  test("control: an unpinned allowH2 agent hands the attacker the token over h2; the pinned dispatcher refuses it and reaches the genuine server over h2", async () => {
    const before = stolen().length;
    const plain = new UndiciAgent({ allowH2: true, connect: { ca: trusted(), lookup: lookupLocal } });
    assert.equal(await viaUndici(plain, `https://${HOST}:${evil.port}/`), 200);
    await plain.close();
    assert.equal(stolen().length, before + 1);
    assert.equal(stolen().at(-1)?.version, "2.0");
    const realBefore = real.requests.length;
    const pinned = createPinnedDispatcher({
      policy: policy(),
      ca: trusted(),
      connect: { lookup: lookupLocal },
      agent: { allowH2: true },
    });
    assert.equal(await viaUndici(pinned, `https://${HOST}:${evil.port}/`), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaUndici(pinned, `https://${HOST}:${real.port}/`), 200);
    await pinned.close();
    assert.equal(stolen().length, before + 1);
    assert.equal(real.requests[realBefore]?.version, "2.0");
  });
});

/** A node:http2 GET with the token: status, or the keypin error code. */
async function viaHttp2(url: string, options: object): Promise<number | string> {
  const session = http2Connect(url, { lookup: lookupLocal, ...options });
  const failed = new Promise<never>((_, reject) => session.once("error", reject));
  try {
    const stream = session.request({ ":path": "/", authorization: TOKEN });
    stream.on("error", () => {}); // the session's error says why
    stream.end();
    const [headers] = (await Promise.race([once(stream, "response"), failed])) as [Record<string, unknown>];
    stream.resume();
    await once(stream, "end");
    return Number(headers[":status"]);
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  } finally {
    session.destroy();
  }
}

describe("node:http2 connect() with pinnedTlsOptions", () => {
  test("control: connect() with the CA trusted hands the attacker the token; with pinnedTlsOptions it is refused", async () => {
    const before = stolen().length;
    assert.equal(await viaHttp2(`https://${HOST}:${evil.port}`, { ca: trusted() }), 200);
    assert.equal(stolen().length, before + 1);
    const pinned = pinnedTlsOptions({ policy: policy(), ca: trusted() });
    assert.equal(await viaHttp2(`https://${HOST}:${evil.port}`, pinned), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaHttp2(`https://${HOST}:${real.port}`, pinned), 200);
    assert.equal(stolen().length, before + 1);
  });
});

describe("axios with httpVersion: 2", () => {
  const viaAxios = async (url: string, config: Record<string, unknown>) => {
    try {
      const res = await axios.get(url, {
        httpVersion: 2,
        headers: { authorization: TOKEN },
        ...config,
      } as never);
      return (res as { status: number }).status;
    } catch (error) {
      return keypinCodeOf(error) ?? String(error);
    }
  };

  test("control: axios's HTTP/2 never uses httpsAgent (a pinned one included) and leaks the token; http2Options: pinnedTlsOptions pins it", async () => {
    const before = stolen().length;
    const agent = createPinnedAgent({ policy: policy(), ca: trusted(), connect: { lookup: lookupLocal } });
    const url = `https://${HOST}:${evil.port}/`;
    assert.equal(
      await viaAxios(url, { httpsAgent: agent, http2Options: { ca: trusted(), lookup: lookupLocal } }),
      200,
    );
    agent.destroy();
    assert.equal(stolen().length, before + 1);
    assert.equal(stolen().at(-1)?.version, "2.0");
    const http2Options = pinnedTlsOptions({
      policy: policy(),
      ca: trusted(),
      connect: { lookup: lookupLocal },
    });
    assert.equal(await viaAxios(url, { http2Options }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaAxios(`https://${HOST}:${real.port}/`, { http2Options }), 200);
    assert.equal(stolen().length, before + 1);
  });
});
