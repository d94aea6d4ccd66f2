// The attacks keypin exists to stop (issue 3, "Attacks"), each next to an unpinned or naive control that shows the
// attack really works against a client without keypin.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { Agent as HttpsAgent, get as httpsGet } from "node:https";
import { after, before, describe, test } from "node:test";
import type { DetailedPeerCertificate, PeerCertificate } from "node:tls";
import { checkServerIdentity, type TLSSocket, connect as tlsConnect } from "node:tls";
import type { PinFailureReport } from "@keypin/core";
import {
  createPinnedAgent,
  createPinnedDispatcher,
  type PinMismatchError,
  pinnedTlsOptions,
} from "@keypin/node";
import {
  createChain,
  generateKey,
  issue,
  issueLeaf,
  type KeyKind,
  keypinCodeOf,
  lookupLocal,
  opensslPinOfCertificate,
  policyOf,
  rejectionOf,
  startForgingProxy,
  startHttpServer,
  startHttpsServer,
  type TestChain,
  type TestServer,
  unrelatedPin,
} from "@keypin/testkit";
import axios from "axios";
import { Agent, fetch, ProxyAgent } from "undici";

const HOST = "api.keypin.test";
const BEARER = "Bearer s3cr3t-token";
let genuine: TestChain;
let server: TestServer;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  genuine = await createChain("p256", [HOST], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  closers.push(server.close);
});
after(async () => {
  for (const close of closers) await close();
});

/** Polls until `done()` (background work such as report delivery); fails after ~10 s instead of hanging. */
async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(done(), "gave up waiting");
}

const url = (port: number, path = "/") => `https://${HOST}:${port}${path}`;
const connect = { lookup: lookupLocal };
const pinnedPolicy = () => policyOf({ [HOST]: [genuine.intermediate.pin, unrelatedPin()] });

describe("attack 1: an intercepting proxy with a CA the device trusts", () => {
  test("unpinned, the proxy reads the bearer token; pinned, ERR_KEYPIN_PIN_MISMATCH and 0 bytes reach the proxy", async () => {
    const deviceCa = await issue("p256", { subject: "CN=Debugging Proxy CA", ca: true });
    const proxy = await startForgingProxy({ ca: deviceCa });
    closers.push(proxy.close);
    const trusted = [deviceCa.pem, genuine.root.pem];

    // Control: ordinary validation accepts the forgery, the request goes through and the token leaks.
    const unpinned = new ProxyAgent({ uri: proxy.url, requestTls: { ca: trusted } });
    const res = await fetch(url(server.port, "/account"), {
      dispatcher: unpinned,
      headers: { authorization: BEARER },
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.deepEqual(proxy.tokens, [BEARER]);
    assert.ok(proxy.applicationBytes > 0);
    await unpinned.close();

    // Pinned: the same proxy, the same trusted CAs.
    const before = {
      bytes: proxy.applicationBytes,
      handshakes: proxy.handshakes,
      connects: proxy.connects.length,
    };
    const pinned = createPinnedDispatcher({ policy: pinnedPolicy(), ca: trusted, proxy: proxy.url });
    const error = await rejectionOf(
      fetch(url(server.port, "/account"), {
        dispatcher: pinned,
        headers: { authorization: "Bearer other-token" },
      }),
    );
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(proxy.connects.length, before.connects + 1, "the pinned client did go through the proxy");
    assert.equal(
      proxy.applicationBytes - before.bytes,
      0,
      "not one byte of application data reached the proxy",
    );
    assert.deepEqual(proxy.tokens, [BEARER]);
    const cause = (error as { cause: PinMismatchError }).cause;
    assert.equal(cause.chainPins.at(-1)?.pin, deviceCa.pin, "the verified path ends at the device CA");
    await pinned.close();
  });
});

describe("attack 1 with axios and HTTPS_PROXY", () => {
  test("unpinned axios leaks the token through the proxy; with a pinned httpsAgent it fails and sends nothing", async () => {
    const deviceCa = await issue("p256", { subject: "CN=Corporate TLS inspection CA", ca: true });
    const proxy = await startForgingProxy({ ca: deviceCa });
    closers.push(proxy.close);
    const trusted = [deviceCa.pem, genuine.root.pem];
    const saved = { ...process.env };
    process.env["HTTPS_PROXY"] = proxy.url;
    process.env["https_proxy"] = proxy.url;
    delete process.env["NO_PROXY"];
    delete process.env["no_proxy"];
    try {
      const plain = new HttpsAgent({ ca: trusted });
      const res = await axios.get(url(server.port, "/axios"), {
        httpsAgent: plain,
        headers: { authorization: BEARER },
      });
      assert.equal(res.status, 200);
      assert.ok(proxy.tokens.includes(BEARER), "control: the proxy read the token");
      plain.destroy();

      const before = { bytes: proxy.applicationBytes, connects: proxy.connects.length };
      const pinned = createPinnedAgent({ policy: pinnedPolicy(), ca: trusted });
      const error = await rejectionOf(
        axios.get(url(server.port, "/axios"), {
          httpsAgent: pinned,
          headers: { authorization: "Bearer pinned" },
        }),
      );
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
      assert.equal(proxy.connects.length, before.connects + 1, "axios used its own tunnel to the proxy");
      assert.equal(proxy.applicationBytes, before.bytes, "0 bytes of application data");
      assert.ok(!proxy.tokens.includes("Bearer pinned"));
      pinned.destroy();
    } finally {
      for (const key of ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });
});

/** Node's documented recipe, made to hash real SPKI bytes: walks issuerCertificate links, compares every key. */
function naiveCheck(pins: string[]) {
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const error = checkServerIdentity(host, cert);
    if (error) return error;
    let current = cert as DetailedPeerCertificate | undefined;
    const seen = new Set<string>();
    while (current?.raw && !seen.has(current.fingerprint256)) {
      seen.add(current.fingerprint256);
      const spki = new X509Certificate(current.raw).publicKey.export({ type: "spki", format: "der" });
      if (pins.includes(`sha256/${createHash("sha256").update(spki).digest("base64")}`)) return undefined;
      current = current.issuerCertificate;
    }
    return new Error("naive pin mismatch");
  };
}

describe("attack 2: a forged leaf with the genuine pinned intermediate appended", () => {
  test("a check over Node's issuerCertificate links is fooled; keypin's verified path is not", async () => {
    // The attacker's device-trusted CA copies the genuine intermediate's name and key identifier, so OpenSSL accepts
    // a forged leaf that names the genuine intermediate as issuer, and Node links that leaf to the appended genuine one.
    const evilKey = await generateKey("p256");
    const lookAlikeCa = await issue("p256", {
      subject: genuine.intermediate.subject,
      subjectKeyId: genuine.intermediate.skid,
      ca: true,
      key: evilKey,
    });
    const forge = (name: string) => issueLeaf("p256", [name], genuine.intermediate, { signingKey: evilKey });
    const proxy = await startForgingProxy({ ca: lookAlikeCa, forge, append: genuine.intermediate.pem });
    closers.push(proxy.close);
    const trusted = [lookAlikeCa.pem, genuine.root.pem];
    const pins = [genuine.intermediate.pin, unrelatedPin()];

    const naive = new ProxyAgent({
      uri: proxy.url,
      requestTls: { ca: trusted, checkServerIdentity: naiveCheck(pins) },
    });
    const res = await fetch(url(server.port, "/naive"), {
      dispatcher: naive,
      headers: { authorization: BEARER },
    });
    assert.equal(res.status, 200, "the naive check accepted the forged chain");
    await res.arrayBuffer();
    assert.deepEqual(proxy.tokens, [BEARER]);
    await naive.close();

    const before = proxy.applicationBytes;
    const pinned = createPinnedDispatcher({
      policy: policyOf({ [HOST]: pins }),
      ca: trusted,
      proxy: proxy.url,
    });
    const error = await rejectionOf(fetch(url(server.port, "/pinned"), { dispatcher: pinned }));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(proxy.applicationBytes, before);
    const cause = (error as { cause: PinMismatchError }).cause;
    assert.deepEqual(
      cause.chainPins.map((entry) => entry.pin),
      [cause.chainPins[0]!.pin, lookAlikeCa.pin],
      "the verified path is forged leaf → look-alike CA; the appended genuine intermediate is not on it",
    );
    await pinned.close();
  });
});

describe("attack 3: every key type, pinned at every level", () => {
  const kinds: KeyKind[] = ["rsa", "p256", "p384", "ed25519"];
  for (const kind of kinds) {
    test(`${kind}: leaf, intermediate and root pins (openssl's pins) each accept; other keys are refused`, async () => {
      const chain = await createChain(kind, [HOST], `attack3-${kind}`);
      const tlsServer = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
      closers.push(tlsServer.close);
      for (const cert of [chain.leaf, chain.intermediate, chain.root]) {
        const pin = opensslPinOfCertificate(cert.pem);
        assert.equal(pin, cert.pin);
        const dispatcher = createPinnedDispatcher({
          policy: policyOf({ [HOST]: [pin, unrelatedPin()] }),
          ca: [chain.root.pem],
          connect,
        });
        const res = await fetch(url(tlsServer.port), { dispatcher });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        await dispatcher.close();
      }
      const refusing = createPinnedDispatcher({
        policy: policyOf({ [HOST]: [genuine.leaf.pin, genuine.root.pin] }),
        ca: [chain.root.pem],
        connect,
      });
      assert.equal(
        keypinCodeOf(await rejectionOf(fetch(url(tlsServer.port), { dispatcher: refusing }))),
        "ERR_KEYPIN_PIN_MISMATCH",
      );
      await refusing.close();
      assert.equal(tlsServer.requests.length, 3);

      // Control: Node's documented recipe, sha256(cert.pubkey), hashes the raw point for EC keys: a wrong pin.
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: tlsServer.port,
        servername: HOST,
        ca: chain.root.pem,
      });
      await once(socket, "secureConnect");
      const pubkey = socket.getPeerCertificate().pubkey;
      socket.destroy();
      const recipePin = pubkey
        ? `sha256/${createHash("sha256").update(pubkey).digest("base64")}`
        : "(no pubkey)";
      if (kind === "rsa") assert.equal(recipePin, chain.leaf.pin, "for RSA, pubkey happens to be the SPKI");
      else if (kind === "ed25519") assert.equal(recipePin, "(no pubkey)", "Node gives no pubkey for Ed25519");
      else
        assert.notEqual(
          recipePin,
          chain.leaf.pin,
          "for EC, pubkey is the raw point: the recipe's pin is wrong",
        );
    });
  }
});

describe("attack 4: the server moves to its backup key", () => {
  test("a client pinning the backup key keeps working; one pinning only the old key is locked out", async () => {
    const backup = await generateKey("p256");
    const rotatedLeaf = await issueLeaf("p256", [HOST], genuine.intermediate, { key: backup });
    const rotated = await startHttpsServer({
      key: backup.keyPem,
      cert: rotatedLeaf.pem + genuine.intermediate.pem,
    });
    closers.push(rotated.close);
    const withBackup = createPinnedDispatcher({
      policy: policyOf({ [HOST]: [genuine.leaf.pin, { pin: backup.pin, role: "backup" }] as never }),
      ca: [genuine.root.pem],
      connect,
    });
    const before = await fetch(url(server.port), { dispatcher: withBackup });
    assert.equal(before.status, 200);
    await before.arrayBuffer();
    const after = await fetch(url(rotated.port), { dispatcher: withBackup });
    assert.equal(after.status, 200);
    await after.arrayBuffer();

    const withoutBackup = createPinnedDispatcher({
      policy: policyOf({ [HOST]: [genuine.leaf.pin, unrelatedPin()] }),
      ca: [genuine.root.pem],
      connect,
    });
    assert.equal(
      keypinCodeOf(await rejectionOf(fetch(url(rotated.port), { dispatcher: withoutBackup }))),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await withBackup.close();
    await withoutBackup.close();
  });
});

describe("attack 5: report-only and reports", () => {
  test("report-only lets the request through and sends one report, at most once per 24 hours (injected clock)", async () => {
    const collector = await startHttpServer();
    closers.push(collector.close);
    let now = Date.parse("2026-01-01T00:00:00Z");
    const reports: PinFailureReport[] = [];
    const arrived = () => collector.requests.filter((r) => r.url === "/report").length;
    const waitForReports = (count: number) => waitFor(() => arrived() >= count);
    const dispatcher = createPinnedDispatcher({
      policy: policyOf({
        [HOST]: {
          pins: [unrelatedPin(), unrelatedPin()],
          mode: "report-only",
          reportUris: [`http://127.0.0.1:${collector.port}/report`],
        },
      }),
      ca: [genuine.root.pem],
      // No keep-alive ("connection: close" below) and no TLS session cache: each request is a full handshake and a
      // new check (a resumed session skips checkServerIdentity, and would be within this policy anyway).
      connect: { ...connect, maxCachedSessions: 0 },
      onReport: (report) => reports.push(report),
      reporting: { now: () => now },
    });
    const first = await fetch(url(server.port, "/one"), { dispatcher, headers: { connection: "close" } });
    assert.equal(first.status, 200, "report-only: the request goes on");
    await first.arrayBuffer();
    await waitForReports(1);
    const body = JSON.parse(collector.requests.find((r) => r.url === "/report")!.body) as PinFailureReport;
    assert.equal(body.hostname, HOST);
    assert.equal(body.port, server.port);
    assert.equal(body["enforce-pinning"], false);
    assert.equal(body["validated-certificate-chain"].length, 3);
    assert.ok(!JSON.stringify(body).includes("PRIVATE KEY"));

    now += 60_000; // a minute later: the same report is not sent again
    const second = await fetch(url(server.port, "/two"), { dispatcher, headers: { connection: "close" } });
    await second.arrayBuffer();
    now += 24 * 3600_000; // a day later: it is
    const third = await fetch(url(server.port, "/three"), { dispatcher, headers: { connection: "close" } });
    await third.arrayBuffer();
    await waitForReports(2);
    assert.equal(server.requests.filter((r) => ["/one", "/two", "/three"].includes(r.url)).length, 3);
    assert.equal(reports.length, 2, "onReport saw the first and the 24-hours-later report only");
    assert.equal(arrived(), 2);
    await dispatcher.close();
  });

  test("a collector that never answers does not hold the request up; enforced failures are reported too", async () => {
    const pending: import("node:http").ServerResponse[] = [];
    const silent = await startHttpServer((_req, res) => {
      pending.push(res); // never answered
    });
    closers.push(silent.close);
    const reportUris = [`http://127.0.0.1:${silent.port}/report`];
    const dispatcher = createPinnedDispatcher({
      policy: policyOf({
        [HOST]: { pins: [unrelatedPin(), unrelatedPin()], mode: "report-only", reportUris },
      }),
      ca: [genuine.root.pem],
      connect,
    });
    const res = await fetch(url(server.port, "/not-slowed"), { dispatcher });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await waitFor(() => silent.requests.length > 0);
    assert.equal(pending.length, 1, "the request completed while its report was still unanswered");

    const enforced = createPinnedDispatcher({
      policy: policyOf({ [HOST]: { pins: [unrelatedPin(), unrelatedPin()], reportUris } }),
      ca: [genuine.root.pem],
      connect,
    });
    assert.equal(
      keypinCodeOf(await rejectionOf(fetch(url(server.port, "/x"), { dispatcher: enforced }))),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await waitFor(() => silent.requests.length >= 2);
    assert.equal((JSON.parse(silent.requests[1]!.body) as PinFailureReport)["enforce-pinning"], true);
    for (const r of pending) r.end();
    await dispatcher.close();
    await enforced.close();
  });
});

describe("attack 6: an expired pin set", () => {
  test("pins nothing and warns once; the same pins unexpired refuse the connection", async () => {
    const warnings: string[] = [];
    const wrong = [unrelatedPin(), unrelatedPin()];
    const expired = createPinnedDispatcher({
      policy: policyOf({ [HOST]: { pins: wrong, expires: "2020-01-01" } }),
      ca: [genuine.root.pem],
      connect: { ...connect, maxCachedSessions: 0 },
      onWarning: (message) => warnings.push(message),
    });
    for (const path of ["/a", "/b"]) {
      const res = await fetch(url(server.port, path), {
        dispatcher: expired,
        headers: { connection: "close" },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /expired on 2020-01-01/);

    const current = createPinnedDispatcher({
      policy: policyOf({ [HOST]: wrong }),
      ca: [genuine.root.pem],
      connect,
    });
    assert.equal(
      keypinCodeOf(await rejectionOf(fetch(url(server.port), { dispatcher: current }))),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await expired.close();
    await current.close();
  });
});

describe("attack 7: clients with different policies to the same origin in one process", () => {
  test("each dispatcher gets its own verdict, in any order, with keep-alive on", async () => {
    const plain = new Agent({ connect: { ca: genuine.root.pem, lookup: lookupLocal } });
    const good = createPinnedDispatcher({ policy: pinnedPolicy(), ca: [genuine.root.pem], connect });
    const bad = createPinnedDispatcher({
      policy: policyOf({ [HOST]: [unrelatedPin(), unrelatedPin()] }),
      ca: [genuine.root.pem],
      connect,
    });
    for (let round = 0; round < 2; round++) {
      for (const dispatcher of [plain, good]) {
        const res = await fetch(url(server.port, `/round-${round}`), { dispatcher });
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      assert.equal(
        keypinCodeOf(await rejectionOf(fetch(url(server.port), { dispatcher: bad }))),
        "ERR_KEYPIN_PIN_MISMATCH",
      );
    }
    await Promise.all([plain.close(), good.close(), bad.close()]);
  });

  test("each https agent gets its own verdict too, with keep-alive sockets in every pool", async () => {
    const get = (agent: HttpsAgent) =>
      new Promise<number>((resolve, reject) => {
        httpsGet(url(server.port, "/agent"), { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
    const plain = new HttpsAgent({ keepAlive: true, ca: genuine.root.pem, lookup: lookupLocal } as never);
    const good = createPinnedAgent({
      policy: pinnedPolicy(),
      ca: [genuine.root.pem],
      connect,
      agent: { keepAlive: true },
    });
    const bad = createPinnedAgent({
      policy: policyOf({ [HOST]: [unrelatedPin(), unrelatedPin()] }),
      ca: [genuine.root.pem],
      connect,
      agent: { keepAlive: true },
    });
    for (let round = 0; round < 2; round++) {
      assert.equal(await get(plain), 200);
      assert.equal(await get(good), 200);
      assert.equal(keypinCodeOf(await rejectionOf(get(bad))), "ERR_KEYPIN_PIN_MISMATCH");
    }
    for (const agent of [plain, good, bad]) agent.destroy();
  });

  test("control: a TLS session from an unpinned connection, resumed under pins, skips the check (why caches are never shared)", async () => {
    const open = (extra: import("node:tls").ConnectionOptions) =>
      tlsConnect({ host: "127.0.0.1", port: server.port, servername: HOST, ...extra }) as TLSSocket;
    const first = open({ ca: genuine.root.pem });
    const [session] = (await once(first, "session")) as [Buffer];
    first.destroy();
    const wrong = pinnedTlsOptions({
      policy: policyOf({ [HOST]: [unrelatedPin(), unrelatedPin()] }),
      ca: [genuine.root.pem],
    });
    const resumed = open({ ...wrong, session });
    await once(resumed, "secureConnect");
    assert.equal(
      resumed.isSessionReused(),
      true,
      "Node resumed the unpinned session and did not run the pin check",
    );
    resumed.destroy();
    const fresh = open(wrong);
    const [error] = await once(fresh, "error").catch((e: unknown) => [e]);
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
  });
});
