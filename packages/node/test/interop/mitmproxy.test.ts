// keypin against the real mitmproxy (mitmdump 8, Debian's package), the tool a developer or an attacker actually
// uses: a device that trusts mitmproxy's CA hands over its bearer token, a pinned client does not, and mitmproxy's
// own record (its flows file and its log) is the witness. Each pinned case has its unpinned control.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPinnedAgent, createPinnedDispatcher, PinMismatchError } from "@keypin/node";
import {
  createChain,
  headerOf,
  keypinCodeOf,
  lookupLocal,
  type MitmRecord,
  opensslPinOfCertificateFile,
  policyOf,
  rejectionOf,
  startHttpsServer,
  startMitmdump,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";
import axios from "axios";
import { fetch, ProxyAgent } from "undici";

// mitmproxy dials the CONNECT target itself, so the origin is a name it can resolve without a network.
const HOST = "localhost";

let dir: string;
let confdir: string;
let rootPath: string;
let backend: TestChain;
let server: TestServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "keypin-mitmproxy-"));
  confdir = join(dir, "mitmproxy-conf");
  mkdirSync(confdir);
  backend = await createChain("p256", [HOST], "mitmproxy interop backend");
  rootPath = join(dir, "backend-root.pem");
  writeFileSync(rootPath, backend.root.pem);
  server = await startHttpsServer({ key: backend.leaf.keyPem, cert: backend.served });
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A made-up bearer token, different for every request so a record can only contain it if that request leaked. */
const newToken = () => `Bearer kp-${randomBytes(12).toString("hex")}`;
const url = (path: string) => `https://${HOST}:${server.port}${path}`;
/** The backend's leaf and intermediate: what the app ships. */
const backendPolicy = () => policyOf({ [HOST]: [backend.leaf.pin, backend.intermediate.pin] });

function pinMismatchIn(error: unknown): PinMismatchError | undefined {
  let current = error as { cause?: unknown } | undefined;
  for (let depth = 0; current && depth < 6; depth++) {
    if (current instanceof PinMismatchError) return current;
    current = current.cause as typeof current;
  }
  return undefined;
}

/** mitmproxy's log shows it took the tunnel and dialled the genuine backend for it. */
function assertTunnelled(record: MitmRecord): void {
  assert.match(record.stdout, /client connect/, `mitmproxy saw the client:\n${record.stdout}`);
  assert.ok(
    record.stdout.includes(`server connect ${HOST}:${server.port}`),
    `mitmproxy dialled the backend:\n${record.stdout}`,
  );
}

describe("undici through the real mitmproxy", () => {
  test("unpinned control: a device trusting mitmproxy's CA sends the bearer token and mitmproxy records it", async () => {
    const mitm = await startMitmdump({ confdir, upstreamCaPath: rootPath, dir });
    const token = newToken();
    let record: MitmRecord;
    try {
      const device = new ProxyAgent({ uri: mitm.url, requestTls: { ca: [backend.root.pem, mitm.caPem] } });
      try {
        const res = await fetch(url("/account"), { dispatcher: device, headers: { authorization: token } });
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { ok: true, path: "/account" });
      } finally {
        await device.close();
      }
    } finally {
      record = await mitm.stop();
    }
    assertTunnelled(record);
    const seen = record.requests.filter((r) => headerOf(r, "authorization") === token);
    assert.equal(seen.length, 1, "the flows file holds the request with the token");
    assert.deepEqual(
      {
        method: seen[0]?.method,
        scheme: seen[0]?.scheme,
        host: seen[0]?.host,
        port: seen[0]?.port,
        path: seen[0]?.path,
      },
      { method: "GET", scheme: "https", host: HOST, port: server.port, path: "/account" },
    );
    assert.ok(record.stdout.includes(token), "mitmdump's log printed the token too");
    assert.ok(
      server.requests.some((r) => r.headers.authorization === token),
      "mitmproxy relayed it to the genuine backend",
    );
  });

  test("pinned to the backend's keys, the request fails with ERR_KEYPIN_PIN_MISMATCH naming mitmproxy's key, and mitmproxy records no request", async () => {
    const mitm = await startMitmdump({ confdir, upstreamCaPath: rootPath, dir });
    const token = newToken();
    const backendRequests = server.requests.length;
    let record: MitmRecord;
    let error: unknown;
    try {
      const pinned = createPinnedDispatcher({
        policy: backendPolicy(),
        ca: [backend.root.pem, mitm.caPem],
        caOnly: true,
        proxy: mitm.url,
      });
      try {
        error = await rejectionOf(
          fetch(url("/account"), { dispatcher: pinned, headers: { authorization: token } }),
        );
      } finally {
        await pinned.close();
      }
    } finally {
      record = await mitm.stop();
    }
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    const mismatch = pinMismatchIn(error);
    assert.ok(mismatch, "the cause is a PinMismatchError");

    // The verified chain is mitmproxy's forged leaf and its CA; both carry the CA's own key.
    const mitmCaPin = opensslPinOfCertificateFile(mitm.caPath);
    assert.deepEqual(
      mismatch.chainPins.map((entry) => entry.pin),
      [mitmCaPin, mitmCaPin],
    );
    assert.match(mismatch.chainPins[1]?.subject ?? "", /mitmproxy/);
    assert.deepEqual(mismatch.expectedPins, [backend.leaf.pin, backend.intermediate.pin]);
    assert.equal(mismatch.host, HOST);
    assert.equal(mismatch.port, server.port);
    for (const pin of [mitmCaPin, backend.leaf.pin, backend.intermediate.pin]) {
      assert.ok(mismatch.message.includes(pin), `the message lists ${pin}`);
    }

    // mitmproxy forged a certificate for the tunnel, yet got no request out of it.
    assertTunnelled(record);
    assert.deepEqual(record.requests, [], "no HTTP flow in mitmproxy's flows file");
    assert.equal(record.contains(token), false, "the token appears nowhere mitmproxy wrote");
    assert.equal(record.contains("/account"), false, "nor does the request path");
    assert.equal(server.requests.length, backendRequests, "the backend received no request");
  });

  test("the same pinned policy and trust accept the genuine backend when nothing intercepts", async () => {
    const pinned = createPinnedDispatcher({
      policy: backendPolicy(),
      ca: [backend.root.pem],
      caOnly: true,
      connect: { lookup: lookupLocal },
    });
    try {
      const token = newToken();
      const res = await fetch(url("/direct"), { dispatcher: pinned, headers: { authorization: token } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true, path: "/direct" });
      assert.ok(server.requests.some((r) => r.headers.authorization === token));
    } finally {
      await pinned.close();
    }
  });
});

describe("axios with HTTPS_PROXY pointing at the real mitmproxy", () => {
  test("an unpinned httpsAgent leaks the token to mitmproxy; createPinnedAgent fails with ERR_KEYPIN_PIN_MISMATCH and leaks nothing", async () => {
    const mitm = await startMitmdump({ confdir, upstreamCaPath: rootPath, dir });
    const trusted = [backend.root.pem, mitm.caPem];
    const leaked = newToken();
    const kept = newToken();
    const saved = { ...process.env };
    let record: MitmRecord;
    let error: unknown;
    try {
      process.env["HTTPS_PROXY"] = mitm.url;
      process.env["https_proxy"] = mitm.url;
      delete process.env["NO_PROXY"];
      delete process.env["no_proxy"];
      const plain = new HttpsAgent({ ca: trusted });
      try {
        const res = await axios.get(url("/axios"), { httpsAgent: plain, headers: { authorization: leaked } });
        assert.equal(res.status, 200);
      } finally {
        plain.destroy();
      }
      const pinned = createPinnedAgent({ policy: backendPolicy(), ca: trusted, caOnly: true });
      try {
        error = await rejectionOf(
          axios.get(url("/axios-pinned"), { httpsAgent: pinned, headers: { authorization: kept } }),
        );
      } finally {
        pinned.destroy();
      }
    } finally {
      for (const key of ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
      record = await mitm.stop();
    }
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.deepEqual(
      record.requests.map((r) => [r.path, headerOf(r, "authorization")]),
      [["/axios", leaked]],
      "control: mitmproxy recorded the unpinned request with its token, and only that one",
    );
    assert.equal(record.contains(kept), false, "the pinned request's token appears nowhere mitmproxy wrote");
    assert.equal(record.contains("/axios-pinned"), false);
    assert.equal(
      record.stdout.split(`server connect ${HOST}:${server.port}`).length - 1,
      2,
      "both requests were tunnelled through mitmproxy to the backend",
    );
  });
});
