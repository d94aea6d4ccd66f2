// Attempts to get a request past keypin's pins the way an attacker (or a careless option) would, against real
// sockets on 127.0.0.1. The "attacker" is a server holding a certificate for the pinned host, issued by a CA the
// device trusts (as an intercepting proxy's would be); DNS is "poisoned" by a lookup that sends every name to it.
// Each test asserts the attacker received no request, so a pass means the bypass is closed.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createSecureServer as createH2Server } from "node:http2";
import { get as httpsGet, type RequestOptions } from "node:https";
import { after, before, describe, test } from "node:test";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { domainToASCII } from "node:url";
import { normalizeHost, type PinFailureReport } from "@keypin/core";
import { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "@keypin/node";
import {
  createChain,
  issueLeaf,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  rejectionOf,
  startConnectProxy,
  startHttpsServer,
  type TestChain,
  type TestServer,
  trackSockets,
} from "@keypin/testkit";
import axios from "axios";
import got from "got";
import { type Dispatcher, request as undiciRequest } from "undici";
import WebSocket from "ws";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
const IDN = "xn--bcher-kva.keypin.test"; // bücher.keypin.test
const TOKEN = "Bearer bypass-attempt-secret";

let genuine: TestChain;
let attacker: TestChain;
/** The attacker's server: a certificate for every name below, from a CA the device trusts. */
let evil: TestServer;
/** Sessions of an unpinned client with the attacker's server, as any other code in the process could hold. */
let unpinnedSession: Buffer;

/** The device trusts both the genuine root and the attacker's CA (user-installed profile, proxy CA). */
const trusted = () => [genuine.root.pem, attacker.root.pem];
const pinnedPolicy = (extra: Record<string, string[]> = {}) =>
  policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin], [IDN]: [genuine.root.pin], ...extra });
const connect = { lookup: lookupLocal };

before(async () => {
  genuine = await createChain("p256", [HOST], "bypass genuine");
  attacker = await createChain("p256", [HOST, OTHER, IDN, "127.0.0.1"], "bypass attacker");
  evil = await startHttpsServer({ key: attacker.leaf.keyPem, cert: attacker.served });
  const first = tlsConnect({ host: "127.0.0.1", port: evil.port, servername: HOST, ca: trusted() });
  [unpinnedSession] = (await once(first, "session")) as [Buffer];
  first.destroy();
});
after(async () => {
  await evil.close();
});

/** Resolves the status code, or the keypin error code (or the error's text) of an undici request. */
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
    return keypinCodeOf(error) ?? String(error);
  }
}

/** Resolves the status code, or the keypin error code, of an https.get through `agent`. */
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
    req.on("error", (error) => resolve(keypinCodeOf(error) ?? String(error)));
  });
}

/** "ok" when a raw TLS handshake completes, else the keypin error code (or the error's code). */
async function viaTls(options: ConnectionOptions): Promise<string> {
  const socket = tlsConnect(options);
  try {
    await once(socket, "secureConnect");
    return "ok";
  } catch (error) {
    return keypinCodeOf(error) ?? (error as { code?: string }).code ?? String(error);
  } finally {
    socket.destroy();
  }
}

function assertNothingStolen(before: number): void {
  assert.equal(evil.requests.length, before, "the attacker's server received a request");
  assert.ok(!evil.requests.slice(before).some((r) => r.headers.authorization === TOKEN));
}

describe("control: the attacker's server is trusted by ordinary validation", () => {
  test("an unpinned client hands it the token", async () => {
    const before = evil.requests.length;
    const plain = new (await import("undici")).Agent({ connect: { ca: trusted(), lookup: lookupLocal } });
    assert.equal(await viaUndici(plain, `https://${HOST}:${evil.port}/control`), 200);
    assert.equal(evil.requests[before]?.headers.authorization, TOKEN);
    await plain.close();
  });
});

describe("bypass attempts: TLS sessions", () => {
  test("a pinned dispatcher refuses connect.session, which would resume a session the pin check never saw", async () => {
    const before = evil.requests.length;
    const outcome = await (async () => {
      try {
        const d = createPinnedDispatcher({
          policy: pinnedPolicy(),
          ca: trusted(),
          connect: { ...connect, session: unpinnedSession },
        });
        const result = await viaUndici(d, `https://${HOST}:${evil.port}/connect-session`);
        await d.close();
        return result;
      } catch (error) {
        return keypinCodeOf(error);
      }
    })();
    assert.equal(outcome, "ERR_KEYPIN_OPTIONS");
    for (const make of [createPinnedAgent, pinnedTlsOptions]) {
      assert.throws(
        () => make({ policy: pinnedPolicy(), ca: trusted(), connect: { session: unpinnedSession } }),
        (error: unknown) => keypinCodeOf(error) === "ERR_KEYPIN_OPTIONS",
      );
    }
    assertNothingStolen(before);
  });

  test("a pinned agent refuses a request that brings its own TLS session", async () => {
    const before = evil.requests.length;
    const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
    const outcome = await viaAgent(agent, `https://${HOST}:${evil.port}/request-session`, {
      session: unpinnedSession,
    } as RequestOptions);
    agent.destroy();
    assert.equal(outcome, "ERR_KEYPIN_OPTIONS");
    assertNothingStolen(before);
  });

  for (const maxVersion of ["TLSv1.2", "TLSv1.3"] as const) {
    test(`a session from a ${maxVersion} handshake the pin check refused is never resumed (dispatcher and agent)`, async () => {
      const server = await startHttpsServer({
        key: attacker.leaf.keyPem,
        cert: attacker.served,
        maxVersion,
        handler: (_req, res) => res.end("stolen"),
      });
      const { port } = server;
      const dispatcher = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), connect });
      const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
      for (let round = 0; round < 3; round++) {
        assert.equal(await viaUndici(dispatcher, `https://${HOST}:${port}/`), "ERR_KEYPIN_PIN_MISMATCH");
        assert.equal(await viaAgent(agent, `https://${HOST}:${port}/`), "ERR_KEYPIN_PIN_MISMATCH");
      }
      await dispatcher.close();
      agent.destroy();
      await server.close();
      assert.equal(server.resumptions, 0);
      assert.equal(server.requests.length, 0);
    });
  }
});

describe("bypass attempts: which host", () => {
  test("a pinned dispatcher pins the URL's host when the TLS server name names another (Host header, servername, connect.servername)", async () => {
    const before = evil.requests.length;
    const url = `https://${HOST}:${evil.port}/`;
    const d = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), connect });
    assert.equal(await viaUndici(d, url, { headers: { host: OTHER } }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaUndici(d, url, { servername: OTHER }), "ERR_KEYPIN_PIN_MISMATCH");
    await d.close();
    const fixed = createPinnedDispatcher({
      policy: pinnedPolicy(),
      ca: trusted(),
      connect: { ...connect, servername: OTHER },
    });
    assert.equal(await viaUndici(fixed, url), "ERR_KEYPIN_PIN_MISMATCH");
    await fixed.close();
    assertNothingStolen(before);
  });

  test("a pinned dispatcher does not resume, for a pinned host, a session made with an unpinned one under the same server name", async () => {
    // Node runs no check on a resumed session, and undici keys TLS sessions by server name alone: per origin
    // behind an Agent, but across every origin behind a ProxyAgent's tunnels.
    const proxy = await startConnectProxy();
    for (const extra of [{}, { proxy: proxy.url }]) {
      const before = evil.requests.length;
      const d = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), connect, ...extra });
      assert.equal(await viaUndici(d, `https://${OTHER}:${evil.port}/unpinned`), 200, "OTHER has no pins");
      assert.equal(evil.requests.length, before + 1);
      assert.equal(
        await viaUndici(d, `https://${HOST}:${evil.port}/`, { headers: { host: OTHER } }),
        "ERR_KEYPIN_PIN_MISMATCH",
        JSON.stringify(extra),
      );
      await d.close();
      assertNothingStolen(before + 1);
    }
    await proxy.close();
  });

  test("a pinned agent pins the URL's host when the Host header or servername names another", async () => {
    const before = evil.requests.length;
    const url = `https://${HOST}:${evil.port}/`;
    const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
    assert.equal(await viaAgent(agent, url, { headers: { host: OTHER } }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaAgent(agent, url, { servername: OTHER }), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(await viaAgent(agent, url, { servername: "" }), "ERR_KEYPIN_PIN_MISMATCH");
    agent.destroy();
    assertNothingStolen(before);
  });

  test("a raw TLS client pins the host it connects to, whatever servername it sends", async () => {
    const pinned = pinnedTlsOptions({ policy: pinnedPolicy(), ca: trusted(), connect });
    assert.equal(
      await viaTls({ host: HOST, port: evil.port, servername: OTHER, ...pinned }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
  });

  test("an IP-literal URL is pinned by the name its Host header makes the TLS server name", async () => {
    const before = evil.requests.length;
    const d = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), connect });
    assert.equal(
      await viaUndici(d, `https://127.0.0.1:${evil.port}/`, { headers: { host: HOST } }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await d.close();
    const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
    assert.equal(
      await viaAgent(agent, `https://127.0.0.1:${evil.port}/`, { headers: { host: HOST } }),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    agent.destroy();
    assertNothingStolen(before);
  });

  test("through a CONNECT proxy, a Host header naming the pinned host is pinned too (undici ProxyAgent, axios's tunnel)", async () => {
    // Direct, undici and https.Agent make the server name from the Host header. Through a tunnel they did not:
    // undici's ProxyAgent (given requestTls) and axios's tunnelling agent took the URL's host, and the Host
    // header's pins were never looked at, so a certificate for the unpinned URL host carried the pinned host's
    // request (review). The attacker's certificate names both hosts: only the pins can refuse it.
    const proxy = await startConnectProxy();
    const url = `https://${OTHER}:${evil.port}/`;
    const headers = { host: HOST };
    const before = evil.requests.length;
    const control = new (await import("undici")).ProxyAgent({
      uri: proxy.url,
      requestTls: { ca: trusted() },
    });
    assert.equal(await viaUndici(control, url, { headers }), 200, "control: the plain ProxyAgent is fooled");
    await control.close();
    assert.equal(evil.requests.length, before + 1);
    for (const extra of [{}, { onKeylog: () => {} }]) {
      const d = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), proxy: proxy.url, ...extra });
      assert.equal(await viaUndici(d, url, { headers }), "ERR_KEYPIN_PIN_MISMATCH", JSON.stringify(extra));
      assert.equal(await viaUndici(d, url), 200, "the unpinned host alone still works through the proxy");
      await d.close();
    }
    const saved = { ...process.env };
    process.env["HTTPS_PROXY"] = proxy.url;
    process.env["https_proxy"] = proxy.url;
    delete process.env["NO_PROXY"];
    delete process.env["no_proxy"];
    try {
      const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted() });
      const error = await rejectionOf(
        axios.get(url, { httpsAgent: agent, headers: { ...headers, authorization: TOKEN } }),
      );
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
      agent.destroy();
    } finally {
      for (const key of ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    await proxy.close();
    assert.equal(evil.requests.length, before + 3, "only the control and the two unpinned requests arrived");
    assert.ok(!evil.requests.slice(before + 1).some((r) => r.headers.host === HOST));
  });

  test("a Host header in tls.connect's options finds its policy in any spelling (object in any case, flat array, port, brackets)", async () => {
    const pinned = pinnedTlsOptions({ policy: pinnedPolicy(), ca: trusted(), connect });
    for (const headers of [
      { Host: `${HOST.toUpperCase()}:443` },
      { HOST: `${HOST}.` },
      ["Accept", "*/*", "host", HOST],
      { host: [HOST] },
    ]) {
      assert.equal(
        await viaTls({
          host: "127.0.0.1",
          port: evil.port,
          servername: OTHER,
          headers,
          ...pinned,
        } as ConnectionOptions),
        "ERR_KEYPIN_PIN_MISMATCH",
        JSON.stringify(headers),
      );
    }
    for (const headers of [{ host: OTHER }, { host: "[::1]:8443" }, { host: "not a host" }, {}]) {
      assert.equal(
        await viaTls({
          host: "127.0.0.1",
          port: evil.port,
          servername: OTHER,
          headers,
          ...pinned,
        } as ConnectionOptions),
        "ok",
        JSON.stringify(headers),
      );
    }
  });

  test("every spelling of the pinned host in a URL is pinned: case, trailing dots, Unicode and xn-- forms", async () => {
    const before = evil.requests.length;
    const d = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted(), connect });
    for (const host of [
      "API.Keypin.Test",
      "api.keypin.test.",
      "api.keypin.test..",
      "BÜCHER.keypin.test",
      "xn--bcher-kva.KEYPIN.test.",
    ]) {
      assert.equal(await viaUndici(d, `https://${host}:${evil.port}/`), "ERR_KEYPIN_PIN_MISMATCH", host);
    }
    await d.close();
    assertNothingStolen(before);
  });

  test("a TLS server name in Unicode (a Kelvin sign that lowercases to k, an IDN) finds the same policy or fails validation", async () => {
    const pinned = pinnedTlsOptions({ policy: pinnedPolicy(), ca: trusted() });
    for (const servername of [
      "api.keypin.test..",
      "api.\u212Aeypin.test",
      "BÜCHER.keypin.test",
      "bücher.keypin.test.",
    ]) {
      const outcome = await viaTls({ host: "127.0.0.1", port: evil.port, servername, ...pinned });
      assert.ok(
        ["ERR_KEYPIN_PIN_MISMATCH", "ERR_TLS_CERT_ALTNAME_INVALID"].includes(outcome),
        `${servername}: ${outcome}`,
      );
    }
  });
});

describe("bypass attempts: a wildcard certificate and Unicode server names", () => {
  test("a server name that URL parsing maps to a pinned IDN finds that policy (full UTS #46, lunate sigma)", async () => {
    const wildcard = await issueLeaf("p256", ["*.keypin.test"], attacker.intermediate);
    const server = await startHttpsServer({
      key: wildcard.keyPem,
      cert: wildcard.pem + attacker.intermediate.pem,
    });
    const name = "a\u03f2.keypin.test";
    const pinnedName = domainToASCII(name);
    // Core now follows UTS #46 (ϲ maps as the URL standard maps it), so both ways of spelling the policy key agree.
    assert.equal(normalizeHost(name), pinnedName, "core's mapping is the URL standard's");
    const pinned = pinnedTlsOptions({
      policy: policyOf({ [pinnedName]: [genuine.root.pin] }),
      ca: trusted(),
    });
    try {
      for (const servername of [name, "A\u03f2.KEYPIN.test."]) {
        const outcome = await viaTls({ host: "127.0.0.1", port: server.port, servername, ...pinned });
        assert.ok(["ERR_KEYPIN_PIN_MISMATCH", "ERR_TLS_CERT_ALTNAME_INVALID"].includes(outcome), outcome);
      }
    } finally {
      await server.close();
    }
  });
});

describe("bypass attempts: options and clients", () => {
  test("got's https.rejectUnauthorized: false and https.checkServerIdentity cannot switch a pinned agent's checks off", async () => {
    const before = evil.requests.length;
    const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
    for (const https of [{ rejectUnauthorized: false }, { checkServerIdentity: () => undefined }]) {
      const error = await rejectionOf(
        got(`https://${HOST}:${evil.port}/got`, {
          agent: { https: agent },
          https,
          headers: { authorization: TOKEN },
          retry: { limit: 0 },
        }),
      );
      assert.ok(
        ["ERR_KEYPIN_OPTIONS", "ERR_KEYPIN_PIN_MISMATCH"].includes(keypinCodeOf(error) ?? ""),
        String(error),
      );
    }
    agent.destroy();
    assertNothingStolen(before);
  });

  test("ws options rejectUnauthorized: false and checkServerIdentity cannot switch a pinned agent's checks off", async () => {
    const before = evil.requests.length;
    let upgrades = 0;
    const onUpgrade = (): void => {
      upgrades++;
    };
    evil.server.on("upgrade", onUpgrade);
    const agent = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted(), connect });
    for (const extra of [{ rejectUnauthorized: false }, { checkServerIdentity: () => undefined }]) {
      const socket = new WebSocket(`wss://${HOST}:${evil.port}/ws`, {
        agent,
        headers: { authorization: TOKEN },
        ...extra,
      });
      const [error] = (await once(socket, "error")) as [unknown];
      assert.ok(
        ["ERR_KEYPIN_OPTIONS", "ERR_KEYPIN_PIN_MISMATCH"].includes(keypinCodeOf(error) ?? ""),
        String(error),
      );
    }
    agent.destroy();
    evil.server.off("upgrade", onUpgrade);
    assert.equal(upgrades, 0);
    assertNothingStolen(before);
  });

  test("a pinned dispatcher with allowH2 pins HTTP/2 connections too", async () => {
    const server = createH2Server({ key: attacker.leaf.keyPem, cert: attacker.served, allowHTTP1: true });
    let streams = 0;
    server.on("stream", (stream) => {
      streams++;
      stream.respond({ ":status": 200 });
      stream.end("stolen");
    });
    const close = trackSockets(server as never);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const d = createPinnedDispatcher({
      policy: pinnedPolicy(),
      ca: trusted(),
      connect,
      agent: { allowH2: true },
    });
    assert.equal(await viaUndici(d, `https://${HOST}:${port}/`), "ERR_KEYPIN_PIN_MISMATCH");
    await d.close();
    await close();
    assert.equal(streams, 0);
  });
});

describe("bypass attempts: reports and expiry", () => {
  test("a report-only failure reports no request secret, does not block, and a report URI on the failing host is tried once", async () => {
    const before = evil.requests.length;
    const reports: PinFailureReport[] = [];
    const warnings: string[] = [];
    const d = createPinnedDispatcher({
      policy: policyOf({
        [HOST]: {
          mode: "report-only",
          pins: [genuine.leaf.pin, genuine.root.pin],
          reportUris: [`https://127.0.0.1:${evil.port}/report`],
        },
      }),
      ca: trusted(),
      connect,
      onReport: (report) => reports.push(report),
      onWarning: (message) => warnings.push(message),
    });
    assert.equal(await viaUndici(d, `https://${HOST}:${evil.port}/report-only?token=query-secret`), 200);
    await d.close();
    // Wait for the report's failed delivery (up to 10 s), then a little longer: a second attempt would show by then.
    for (let i = 0; i < 1000 && warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(reports.length, 1);
    const text = JSON.stringify(reports) + warnings.join("\n");
    assert.ok(!text.includes("bypass-attempt-secret") && !text.includes("query-secret"), text);
    // The report goes out on a plain client, which does not trust the attacker's CA: one failed attempt, no loop.
    assert.equal(warnings.filter((w) => w.includes("report")).length, 1, warnings.join("\n"));
    assert.equal(evil.requests.length, before + 1, "only the report-only request itself reached the server");
  });

  test("expires today (UTC) still pins; expired yesterday pins nothing and warns once", async () => {
    // The UTC day must not turn between writing "today" and the handshake: a run at 23:59:59 waits it out.
    const untilMidnight = 86400_000 - (Date.now() % 86400_000);
    if (untilMidnight < 5000) await new Promise((r) => setTimeout(r, untilMidnight + 100));
    const day = (offset: number) => new Date(Date.now() + offset * 86400_000).toISOString().slice(0, 10);
    const today = createPinnedDispatcher({
      policy: policyOf({ [HOST]: { pins: [genuine.leaf.pin, genuine.root.pin], expires: day(0) } }),
      ca: trusted(),
      connect,
    });
    assert.equal(await viaUndici(today, `https://${HOST}:${evil.port}/`), "ERR_KEYPIN_PIN_MISMATCH");
    await today.close();
    const warnings: string[] = [];
    const yesterday = createPinnedDispatcher({
      policy: policyOf({ [HOST]: { pins: [genuine.leaf.pin, genuine.root.pin], expires: day(-1) } }),
      ca: trusted(),
      connect: { ...connect },
      agent: { pipelining: 0 },
      onWarning: (message) => warnings.push(message),
    });
    assert.equal(await viaUndici(yesterday, `https://${HOST}:${evil.port}/a`), 200);
    assert.equal(await viaUndici(yesterday, `https://${OTHER}:${evil.port}/b`), 200);
    assert.equal(await viaUndici(yesterday, `https://${HOST}.:${evil.port}/c`), 200);
    await yesterday.close();
    assert.equal(warnings.filter((w) => w.includes("expired")).length, 1, warnings.join("\n"));
  });
});
