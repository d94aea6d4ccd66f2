// Issue 12, class 4: every spelling of an IP host that Node connects to and that Node's hostname check accepts must
// find the policy's entry for that address. The attacker holds a certificate for the addresses from a CA the client
// trusts (a device or corporate CA), in every spelling the hostname check compares: IP SANs for 127.0.0.1, ::1 and
// ::ffff:127.0.0.1 (the 16-byte form Node compares an IPv4-mapped host with), DNS SANs for the spellings that are no
// IP literal to net.isIP (127.1, 0x7f.1 …) but that the resolver still sends to 127.0.0.1. The key is not pinned.
// For each spelling an unpinned control with the same trust sends its bearer token to that server; the pinned client
// must refuse with ERR_KEYPIN_PIN_MISMATCH and send nothing. Before keypin had one canonical form per address,
// ::1%lo, ::ffff:127.0.0.1 and ::ffff:7f00:1 found no entry and were let through.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { type AddressInfo, createServer as createTcpServer, isIP } from "node:net";
import { after, before, describe, test } from "node:test";
import { type ConnectionOptions, checkServerIdentity, connect as tlsConnect } from "node:tls";
import { normalizeHost } from "@keypin/core";
import { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "@keypin/node";
import {
  createChain,
  issue,
  keypinCodeOf,
  policyOf,
  rejectionOf,
  type TestCert,
  type TestChain,
  trackSockets,
  unrelatedPin,
} from "@keypin/testkit";
import { Agent, fetch } from "undici";

const TOKEN = "Bearer ip-spelling-token";

/** Spellings that `net.connect` sends to 127.0.0.1, as `tls.connect`/`https.request` get them in `host`. */
const V4_CONNECT_SPELLINGS = [
  "127.0.0.1",
  "::ffff:127.0.0.1",
  "::ffff:7f00:1",
  "::FFFF:7F00:0001",
  "0:0:0:0:0:ffff:127.0.0.1",
  "::ffff:127.0.0.1%lo",
  "127.1",
  "127.0.1",
  "0x7f.1",
  "0X7F.0.0.1",
  "0x7f000001",
  "2130706433",
  "017700000001",
  "0177.0.0.1",
  "127.000.000.001",
  "127.0.0.01",
];
/** Spellings that `net.connect` sends to ::1. */
const V6_CONNECT_SPELLINGS = [
  "::1",
  "::1%lo",
  "::1%1",
  "::1%25lo",
  "0:0:0:0:0:0:0:1",
  "0000:0000:0000:0000:0000:0000:0000:0001",
  "::0:1",
  "0::1",
  "::0.0.0.1",
];
/** URL spellings (undici, through Node's URL parser) of the two addresses. */
const URL_SPELLINGS = [
  "127.0.0.1",
  "127.1",
  "0x7f.1",
  "2130706433",
  "0177.0.0.1",
  "127.0.0.1.",
  "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]",
  "[0:0:0:0:0:ffff:7f00:1]",
  "[::1]",
  "[0:0:0:0:0:0:0:1]",
  "[::0.0.0.1]",
];

interface Listener {
  port: number;
  tokens: string[];
  close: () => Promise<void>;
}

/** An HTTPS server on `address` serving `cert`, recording the authorization header of each request. */
async function listenHttps(address: string, key: string, cert: string): Promise<Listener> {
  const server = createHttpsServer({ key, cert });
  const tokens: string[] = [];
  server.on("request", (req, res) => {
    tokens.push(String(req.headers.authorization ?? ""));
    res.end("ok");
  });
  const close = trackSockets(server);
  server.listen(0, address);
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, tokens, close };
}

/** Why ::1 cannot be listened on here, or undefined when it can. */
async function ipv6LoopbackProblem(): Promise<string | undefined> {
  const probe = createTcpServer();
  try {
    probe.listen(0, "::1");
    await once(probe, "listening");
    return undefined;
  } catch (error) {
    return `this machine cannot listen on ::1 (${(error as NodeJS.ErrnoException).code}): no IPv6 loopback`;
  } finally {
    probe.close();
  }
}

let genuine: TestChain;
let deviceCa: TestCert;
let forged: TestCert;
let v4: Listener;
let v6: Listener | undefined;
let noIpv6: string | undefined;
const DNS_SPELLINGS = V4_CONNECT_SPELLINGS.filter((h) => isIP(h) === 0);

before(async () => {
  genuine = await createChain("p256", ["127.0.0.1", "::1"], "genuine ip");
  deviceCa = await issue("p256", { subject: "CN=Device CA, O=attacker", ca: true });
  forged = await issue("p256", {
    subject: "CN=127.0.0.1",
    issuer: deviceCa,
    ips: ["127.0.0.1", "::1", "::ffff:7f00:1"], // (@peculiar/x509 misreads the dotted ::ffff:127.0.0.1)
    dns: DNS_SPELLINGS.map((h) => h.toLowerCase()),
  });
  v4 = await listenHttps("127.0.0.1", forged.keyPem, forged.pem);
  noIpv6 = await ipv6LoopbackProblem();
  if (!noIpv6) v6 = await listenHttps("::1", forged.keyPem, forged.pem);
});
after(async () => {
  await v4?.close();
  await v6?.close();
});

// The genuine servers' intermediate key is pinned (with a backup that exists nowhere).
const policy = () =>
  policyOf({
    "127.0.0.1": [genuine.intermediate.pin, unrelatedPin()],
    "::1": [genuine.intermediate.pin, unrelatedPin()],
  });
const trust = () => [deviceCa.pem, genuine.root.pem];

/** Writes one request over a TLS connection made with `options`; resolves when the response arrives. */
function requestOverTls(host: string, port: number, options: ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ...options }, () => {
      socket.write(`GET / HTTP/1.1\r\nhost: x\r\nauthorization: ${TOKEN}\r\nconnection: close\r\n\r\n`);
    });
    socket.on("data", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
}

function httpsGet(host: string, port: number, agent: import("node:https").Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host, port, agent, headers: { authorization: TOKEN } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Whether this Node's own hostname check accepts the forged certificate for `host`. Node 22.23 refuses every IPv6
 * host against an IPv6 IP SAN (its check says "Cert does not contain a DNS name"); where Node refuses, no client
 * gets as far as keypin's check, and the attack cannot work on the control either.
 */
function nodeAccepts(host: string): boolean {
  return checkServerIdentity(host, new X509Certificate(forged.pem).toLegacyObject()) === undefined;
}

/** Where Node's hostname check refuses `host`: the control fails too, and nothing reaches the server. */
async function assertNodeRefuses(
  host: string,
  attempt: (pinned: boolean) => Promise<unknown>,
  listener: Listener,
) {
  const before = listener.tokens.length;
  const control = await rejectionOf(attempt(false));
  const failure = control as { code?: string; cause?: { code?: string } };
  assert.equal(
    failure.code ?? failure.cause?.code,
    "ERR_TLS_CERT_ALTNAME_INVALID",
    `${host}: ${String(control)}`,
  );
  await rejectionOf(attempt(true));
  assert.equal(listener.tokens.length, before, `${host}: nothing reached the server`);
}

const targetOf = (spelling: string): { listener: Listener | undefined; v6: boolean } => {
  const isV6 = normalizeHost(spelling).includes(":");
  return { listener: isV6 ? v6 : v4, v6: isV6 };
};

describe("the attacker's certificate passes Node's hostname check in every spelling (oracle)", () => {
  test("tls.checkServerIdentity accepts the forged certificate for each connect spelling (IPv4 ones on every Node)", (t) => {
    const cert = new X509Certificate(forged.pem).toLegacyObject();
    for (const host of V4_CONNECT_SPELLINGS.filter((h) => !h.includes(":"))) {
      assert.equal(checkServerIdentity(host, cert), undefined, host);
    }
    const refused = [...V4_CONNECT_SPELLINGS, ...V6_CONNECT_SPELLINGS].filter((h) => !nodeAccepts(h));
    if (refused.length > 0)
      t.diagnostic(`Node ${process.version} refuses these hosts itself: ${refused.join(", ")}`);
  });
});

describe("tls.connect with pinnedTlsOptions, every spelling net.connect accepts", () => {
  for (const host of [...V4_CONNECT_SPELLINGS, ...V6_CONNECT_SPELLINGS]) {
    test(`${host}: the unpinned control sends the token, the pinned client refuses`, async (t) => {
      const { listener, v6: needsV6 } = targetOf(host);
      if (needsV6 && noIpv6) return t.skip(noIpv6);
      assert.ok(listener);
      if (!nodeAccepts(host))
        return assertNodeRefuses(
          host,
          (pinned) =>
            requestOverTls(
              host,
              listener.port,
              pinned ? pinnedTlsOptions({ policy: policy(), ca: trust() }) : { ca: trust() },
            ),
          listener,
        );
      const before = listener.tokens.length;
      await requestOverTls(host, listener.port, { ca: trust() });
      assert.deepEqual(listener.tokens.slice(before), [TOKEN], "control: the forged server got the token");

      const error = await rejectionOf(
        requestOverTls(host, listener.port, pinnedTlsOptions({ policy: policy(), ca: trust() })),
      );
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH", String(error));
      assert.equal(listener.tokens.length, before + 1, "the pinned client sent nothing");
    });
  }
});

describe("https.request with createPinnedAgent", () => {
  for (const host of [
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "127.1",
    "0x7f.1",
    "2130706433",
    "::1%lo",
    "::1",
  ]) {
    test(`${host}: the unpinned agent sends the token, the pinned agent refuses`, async (t) => {
      const { listener, v6: needsV6 } = targetOf(host);
      if (needsV6 && noIpv6) return t.skip(noIpv6);
      assert.ok(listener);
      const { Agent: HttpsAgent } = await import("node:https");
      if (!nodeAccepts(host))
        return assertNodeRefuses(
          host,
          async (pinned) => {
            const agent = pinned
              ? createPinnedAgent({ policy: policy(), ca: trust() })
              : new HttpsAgent({ ca: trust() });
            try {
              return await httpsGet(host, listener.port, agent);
            } finally {
              agent.destroy();
            }
          },
          listener,
        );
      const before = listener.tokens.length;
      const control = new HttpsAgent({ ca: trust() });
      assert.equal(await httpsGet(host, listener.port, control), 200);
      control.destroy();
      assert.deepEqual(listener.tokens.slice(before), [TOKEN], "control: the forged server got the token");

      const pinned = createPinnedAgent({ policy: policy(), ca: trust() });
      const error = await rejectionOf(httpsGet(host, listener.port, pinned));
      pinned.destroy();
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH", String(error));
      assert.equal(listener.tokens.length, before + 1, "the pinned agent sent nothing");
    });
  }
});

describe("undici fetch with createPinnedDispatcher, every URL spelling", () => {
  for (const host of URL_SPELLINGS) {
    test(`https://${host}/: the unpinned dispatcher sends the token, the pinned one refuses`, async (t) => {
      const { listener, v6: needsV6 } = targetOf(host);
      if (needsV6 && noIpv6) return t.skip(noIpv6);
      assert.ok(listener);
      const url = `https://${host}:${listener.port}/`;
      const bare = host.replace(/^\[|\]$/g, "");
      if (!nodeAccepts(bare))
        return assertNodeRefuses(
          host,
          async (pinned) => {
            const dispatcher = pinned
              ? createPinnedDispatcher({ policy: policy(), ca: trust() })
              : new Agent({ connect: { ca: trust() } });
            try {
              return await fetch(url, { dispatcher, headers: { authorization: TOKEN } });
            } finally {
              await dispatcher.close();
            }
          },
          listener,
        );
      const before = listener.tokens.length;
      const control = new Agent({ connect: { ca: trust() } });
      const res = await fetch(url, { dispatcher: control, headers: { authorization: TOKEN } });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await control.close();
      assert.deepEqual(listener.tokens.slice(before), [TOKEN], "control: the forged server got the token");

      const pinned = createPinnedDispatcher({ policy: policy(), ca: trust() });
      const error = await rejectionOf(fetch(url, { dispatcher: pinned, headers: { authorization: TOKEN } }));
      await pinned.close();
      assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH", String(error));
      assert.equal(listener.tokens.length, before + 1, "the pinned dispatcher sent nothing");
    });
  }
});

describe("policy keys take the same canonical form", () => {
  test("an entry written as ::ffff:7f00:1 pins connections to 127.0.0.1, an entry for ::1 pins ::1%lo", async (t) => {
    const mapped = policyOf({ "::ffff:7f00:1": [genuine.intermediate.pin, unrelatedPin()] });
    const error = await rejectionOf(
      requestOverTls("127.0.0.1", v4.port, pinnedTlsOptions({ policy: mapped, ca: trust() })),
    );
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH", String(error));
    if (noIpv6) return t.skip(noIpv6);
    if (!nodeAccepts("::1%lo"))
      return t.diagnostic(`Node ${process.version} refuses ::1 itself: nothing for keypin to check`);
    const long = policyOf({ "0:0:0:0:0:0:0:1": [genuine.intermediate.pin, unrelatedPin()] });
    const error6 = await rejectionOf(
      requestOverTls("::1%lo", v6!.port, pinnedTlsOptions({ policy: long, ca: trust() })),
    );
    assert.equal(keypinCodeOf(error6), "ERR_KEYPIN_PIN_MISMATCH", String(error6));
  });

  test("an entry written with a zone ID is refused: a zone names an interface of one machine, not a host", () => {
    assert.throws(
      () =>
        pinnedTlsOptions({
          policy: policyOf({ "fe80::10%eth0": [genuine.intermediate.pin, unrelatedPin()] }),
        }),
      (error: unknown) => keypinCodeOf(error) !== undefined && /fe80::10%eth0/.test(String(error)),
    );
  });

  test("the genuine server, reached under every spelling, still passes (the pins are the right ones)", async (t) => {
    // A genuine leaf for the same spellings, under the pinned intermediate.
    const leaf = await issue("p256", {
      subject: "CN=127.0.0.1",
      issuer: genuine.intermediate,
      ips: ["127.0.0.1", "::1", "::ffff:7f00:1"], // (@peculiar/x509 misreads the dotted ::ffff:127.0.0.1)
      dns: DNS_SPELLINGS.map((h) => h.toLowerCase()),
    });
    const served = leaf.pem + genuine.intermediate.pem;
    const server4 = await listenHttps("127.0.0.1", leaf.keyPem, served);
    const server6 = noIpv6 ? undefined : await listenHttps("::1", leaf.keyPem, served);
    try {
      for (const host of [...V4_CONNECT_SPELLINGS, ...V6_CONNECT_SPELLINGS]) {
        const server = normalizeHost(host).includes(":") ? server6 : server4;
        if (!server) continue; // no IPv6 loopback: reported below
        if (!nodeAccepts(host)) continue; // this Node refuses the host itself (the forged and the genuine SANs match)
        const before = server.tokens.length;
        await requestOverTls(host, server.port, pinnedTlsOptions({ policy: policy(), ca: trust() }));
        assert.equal(server.tokens.length, before + 1, host);
      }
    } finally {
      await server4.close();
      await server6?.close();
    }
    if (noIpv6) t.skip(`the ::1 spellings: ${noIpv6}`);
  });
});
