// Issue 12, class 1: a pin matches only on a path OpenSSL would accept. Each attack first fools an unpinned control
// with the same trust, then meets the pinned clients.
import assert from "node:assert/strict";
import { get as httpsGet } from "node:https";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { computePin } from "@keypin/core";
import {
  createPinnedAgent,
  createPinnedDispatcher,
  pinnedTlsOptions,
  sha256,
  type UntrustedChainError,
} from "@keypin/node";
import {
  buildCertificate,
  type DerKey,
  keypinCodeOf,
  lookupLocal,
  makeKey,
  policyOf,
  startHttpsServer,
  type TestServer,
  toPem,
} from "@keypin/testkit";
import { Agent, fetch } from "undici";

const HOST = "api.keypin.test";
const TOKEN = "Bearer issuer-rules-token";
const DAY = 86_400_000;
const now = Date.now();
const valid = { notBefore: new Date(now - 10 * DAY), notAfter: new Date(now + 300 * DAY) };
const expired = { notBefore: new Date(now - 400 * DAY), notAfter: new Date(now - DAY) };
const ca = {
  basicConstraints: { ca: true },
  keyUsage: ["keyCertSign", "cRLSign"] as ("keyCertSign" | "cRLSign")[],
};
let serial = 100;

const keys = {
  pinnedRoot: makeKey(),
  genuine: makeKey(),
  leafC: makeKey(),
  rogueRoot: makeKey(),
  leaf: makeKey(),
};
const pinOf = (key: DerKey) => computePin(key.spki, sha256);
function cert(subject: string, issuer: string, key: DerKey, signer: DerKey, extra: object = {}): Uint8Array {
  return buildCertificate({ serial: serial++, subject, issuer, key, signer, ...valid, ...extra });
}

const pinnedRoot = cert("Pinned Root CA", "Pinned Root CA", keys.pinnedRoot, keys.pinnedRoot, ca);
const genuine = cert("Genuine Issuing CA", "Pinned Root CA", keys.genuine, keys.pinnedRoot, ca);
const rogueRoot = cert("Rogue Proxy CA", "Rogue Proxy CA", keys.rogueRoot, keys.rogueRoot, ca);
const trust = toPem(pinnedRoot, rogueRoot);
const policy = () => policyOf({ [HOST]: [pinOf(keys.genuine), pinOf(keys.pinnedRoot)] });
const servers: TestServer[] = [];

async function serve(chain: Uint8Array[], key: DerKey): Promise<TestServer> {
  const server = await startHttpsServer({
    key: key.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    cert: toPem(...chain),
  });
  servers.push(server);
  return server;
}
after(async () => {
  for (const server of servers) await server.close();
});

/** The three pinned clients, each as: did the request reach the server, and with which keypin error. */
async function pinnedOutcomes(
  server: TestServer,
): Promise<{ client: string; code: string | undefined; error: unknown }[]> {
  const url = `https://${HOST}:${server.port}/user/profile`;
  const out: { client: string; code: string | undefined; error: unknown }[] = [];
  const dispatcher = createPinnedDispatcher({
    policy: policy(),
    ca: trust,
    connect: { lookup: lookupLocal },
  });
  try {
    await fetch(url, { dispatcher, headers: { authorization: TOKEN } });
    out.push({ client: "dispatcher", code: undefined, error: undefined });
  } catch (error) {
    out.push({ client: "dispatcher", code: keypinCodeOf(error), error: (error as Error).cause });
  }
  await dispatcher.close();
  const agent = createPinnedAgent({ policy: policy(), ca: trust, connect: { lookup: lookupLocal } });
  const agentError = await new Promise<unknown>((resolve) => {
    httpsGet(url, { agent, headers: { authorization: TOKEN } }, (res) => {
      res.resume();
      resolve(undefined);
    }).on("error", resolve);
  });
  agent.destroy();
  out.push({ client: "agent", code: keypinCodeOf(agentError), error: agentError });
  const tlsError = await new Promise<unknown>((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: server.port,
      servername: HOST,
      ...pinnedTlsOptions({ policy: policy(), ca: trust }),
    });
    socket.on("secureConnect", () => {
      socket.end(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nauthorization: ${TOKEN}\r\nconnection: close\r\n\r\n`);
      resolve(undefined);
    });
    socket.on("error", resolve);
  });
  out.push({ client: "tls.connect", code: keypinCodeOf(tlsError), error: tlsError });
  return out;
}

async function unpinnedRequest(server: TestServer): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: trust, lookup: lookupLocal } });
  try {
    const res = await fetch(`https://${HOST}:${server.port}/user/profile`, {
      dispatcher,
      headers: { authorization: TOKEN },
    });
    await res.arrayBuffer();
    return res.status;
  } finally {
    await dispatcher.close();
  }
}

describe("issuer rules: an expired end-entity certificate under the pinned CA cannot stand as an issuer", () => {
  let server: TestServer;
  before(async () => {
    // C: an old, expired end-entity certificate issued by the genuine CA (no keyUsage), whose key the attacker has.
    const c = cert("Old Device Cert", "Genuine Issuing CA", keys.leafC, keys.genuine, {
      ...expired,
      dns: ["old.keypin.test"],
    });
    // R: the rogue CA's intermediate with C's subject and key. OpenSSL verifies forged → R → rogue root.
    const rogueIntermediate = cert("Old Device Cert", "Rogue Proxy CA", keys.leafC, keys.rogueRoot, ca);
    const forged = cert(HOST, "Old Device Cert", keys.leaf, keys.leafC, { dns: [HOST] });
    // Node links forged → C (the first name match) → genuine intermediate → pinned root: a pinned key, on paper.
    server = await serve([forged, c, rogueIntermediate, genuine], keys.leaf);
  });

  test("unpinned with the same trust, the forgery is accepted and the token is sent", async () => {
    assert.equal(await unpinnedRequest(server), 200);
    assert.equal(server.requests.at(-1)?.headers.authorization, TOKEN);
  });

  test("every pinned client refuses it before sending a byte: C is no CA and expired", async () => {
    const before = server.requests.length;
    for (const outcome of await pinnedOutcomes(server)) {
      assert.equal(outcome.code, "ERR_KEYPIN_UNTRUSTED_CHAIN", `${outcome.client}: ${String(outcome.error)}`);
    }
    assert.equal(server.requests.length, before, "no request reached the attacker's server");
  });

  // OpenSSL skips a served issuer only for its dates (it prefers a time-valid one); Node links the first name match.
  // So the variants are C not yet valid, and C expired straight under the pinned root.
  test("variants: C not yet valid; C expired and issued by the pinned root itself", async () => {
    const notYet = { notBefore: new Date(now + DAY), notAfter: new Date(now + 400 * DAY) };
    const c1 = cert("Future Device Cert", "Genuine Issuing CA", keys.leafC, keys.genuine, {
      ...notYet,
      dns: ["x.keypin.test"],
    });
    const rogue1 = cert("Future Device Cert", "Rogue Proxy CA", keys.leafC, keys.rogueRoot, ca);
    const forged1 = cert(HOST, "Future Device Cert", keys.leaf, keys.leafC, { dns: [HOST] });
    const c2 = cert("Root Device Cert", "Pinned Root CA", keys.leafC, keys.pinnedRoot, {
      ...expired,
      basicConstraints: { ca: false },
    });
    const rogue2 = cert("Root Device Cert", "Rogue Proxy CA", keys.leafC, keys.rogueRoot, ca);
    const forged2 = cert(HOST, "Root Device Cert", keys.leaf, keys.leafC, { dns: [HOST] });
    for (const chain of [
      [forged1, c1, rogue1, genuine],
      [forged2, c2, rogue2],
    ]) {
      const attack = await serve(chain, keys.leaf);
      assert.equal(await unpinnedRequest(attack), 200, "the control accepts the forgery");
      for (const outcome of await pinnedOutcomes(attack)) {
        assert.equal(
          outcome.code,
          "ERR_KEYPIN_UNTRUSTED_CHAIN",
          `${outcome.client}: ${String(outcome.error)}`,
        );
      }
      assert.equal(attack.requests.length, 1, "only the control's request arrived");
    }
  });
});

describe("issuer rules: a valid path hidden by a served certificate fails closed and names it", () => {
  test("an expired copy of the intermediate served first: OpenSSL trusts the chain, keypin refuses and says what to remove", async () => {
    const expiredCopy = cert("Genuine Issuing CA", "Pinned Root CA", keys.genuine, keys.pinnedRoot, {
      ...ca,
      ...expired,
    });
    const leaf = cert(HOST, "Genuine Issuing CA", keys.leaf, keys.genuine, { dns: [HOST] });
    const hidden = await serve([leaf, expiredCopy, genuine], keys.leaf);
    assert.equal(await unpinnedRequest(hidden), 200, "OpenSSL found the valid path");
    for (const outcome of await pinnedOutcomes(hidden)) {
      assert.equal(outcome.code, "ERR_KEYPIN_UNTRUSTED_CHAIN", outcome.client);
      let error = outcome.error as UntrustedChainError | undefined;
      while (error && error.code !== "ERR_KEYPIN_UNTRUSTED_CHAIN") error = error.cause as UntrustedChainError;
      assert.equal(error?.reason, "rules");
      assert.equal(error?.hiddenBy?.subject, "CN=Genuine Issuing CA");
      assert.match(error?.hiddenBy?.problem ?? "", /^expired on /);
      assert.match(error?.message ?? "", /stop sending that certificate/);
    }
    // The same server without the expired copy: pinned.
    const fixed = await serve([leaf, genuine], keys.leaf);
    for (const outcome of await pinnedOutcomes(fixed)) assert.equal(outcome.code, undefined, outcome.client);
    assert.equal(fixed.requests.length, 2, "the dispatcher and the agent sent their requests");
  });

  test("a leaf with an empty subject and a SAN (a CN-less profile) is pinned", async () => {
    const leaf = buildCertificate({
      serial: serial++,
      subject: "",
      issuer: "Genuine Issuing CA",
      key: keys.leaf,
      signer: keys.genuine,
      ...valid,
      dns: [HOST],
    });
    const server = await serve([leaf, genuine], keys.leaf);
    for (const outcome of await pinnedOutcomes(server))
      assert.equal(outcome.code, undefined, `${outcome.client}: ${String(outcome.error)}`);
  });
});
