// Node 20's global fetch (its bundled undici 6) with keypin's undici 7 dispatcher: which combinations work.
// The README's "global fetch" section reports exactly what this file shows.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createPinnedDispatcher } from "@keypin/node";
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
import { getGlobalDispatcher, interceptors, setGlobalDispatcher } from "undici";

let chain: TestChain;
let server: TestServer;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  chain = await createChain("ed25519", ["api.keypin.test"]);
  server = await startHttpsServer({
    key: chain.leaf.keyPem,
    cert: chain.served,
    handler: (req, res) => {
      if (req.url === "/redirect") {
        res.writeHead(302, { location: "/landing" }).end();
        return;
      }
      res.end(JSON.stringify({ path: req.url, method: req.method, body: req.body }));
    },
  });
  closers.push(server.close);
});
after(async () => {
  for (const close of closers) await close();
});

const url = (path: string) => `https://api.keypin.test:${server.port}${path}`;
const good = () => policyOf({ "api.keypin.test": [chain.root.pin, unrelatedPin()] });
const bad = () => policyOf({ "api.keypin.test": [unrelatedPin(), unrelatedPin()] });
const options = (policy: ReturnType<typeof good>) => ({
  policy,
  ca: [chain.root.pem],
  connect: { lookup: lookupLocal },
});
/** Node's global fetch types its init with Node's own undici types; the undici 7 dispatcher works at run time. */
const init = (dispatcher: unknown, extra: Record<string, unknown> = {}) =>
  ({ dispatcher, ...extra }) as RequestInit;

describe(`global fetch on Node ${process.versions.node} (bundled undici ${process.versions.undici})`, () => {
  test("fetch(url, { dispatcher }) with a pinned undici 7 Agent: GET, POST, redirects, and a mismatch", async () => {
    const dispatcher = createPinnedDispatcher(options(good()));
    const get = await fetch(url("/get"), init(dispatcher));
    assert.deepEqual(await get.json(), { path: "/get", method: "GET", body: "" });
    const post = await fetch(url("/post"), init(dispatcher, { method: "POST", body: '{"a":1}' }));
    assert.deepEqual(await post.json(), { path: "/post", method: "POST", body: '{"a":1}' });
    const redirected = await fetch(url("/redirect"), init(dispatcher));
    assert.equal(redirected.url, url("/landing"));
    await redirected.arrayBuffer();

    const pinnedOut = createPinnedDispatcher(options(bad()));
    const before = server.requests.length;
    const error = await rejectionOf(fetch(url("/secret"), init(pinnedOut)));
    assert.equal(keypinCodeOf(error), "ERR_KEYPIN_PIN_MISMATCH");
    assert.equal(server.requests.length, before);
    await dispatcher.close();
    await pinnedOut.close();
  });

  test("setGlobalDispatcher(pinned) pins every global fetch until it is restored", async () => {
    const original = getGlobalDispatcher();
    const pinnedOut = createPinnedDispatcher(options(bad()));
    const pinnedIn = createPinnedDispatcher(options(good()));
    try {
      setGlobalDispatcher(pinnedIn);
      const res = await fetch(url("/global"));
      assert.deepEqual(await res.json(), { path: "/global", method: "GET", body: "" });
      setGlobalDispatcher(pinnedOut);
      const before = server.requests.length;
      assert.equal(keypinCodeOf(await rejectionOf(fetch(url("/secret")))), "ERR_KEYPIN_PIN_MISMATCH");
      assert.equal(server.requests.length, before);
    } finally {
      setGlobalDispatcher(original);
      await pinnedOut.close();
      await pinnedIn.close();
    }
  });

  test("a pinned ProxyAgent and a dispatcher composed with undici 7 interceptors work with global fetch", async () => {
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const viaProxy = createPinnedDispatcher({ policy: good(), ca: [chain.root.pem], proxy: proxy.url });
    const res = await fetch(url("/proxied"), init(viaProxy));
    assert.deepEqual(await res.json(), { path: "/proxied", method: "GET", body: "" });
    assert.ok(proxy.tunnels.length >= 1);

    const composed = createPinnedDispatcher(options(bad())).compose(interceptors.retry({ maxRetries: 1 }));
    assert.equal(
      keypinCodeOf(await rejectionOf(fetch(url("/secret"), init(composed)))),
      "ERR_KEYPIN_PIN_MISMATCH",
    );
    await viaProxy.close();
    await composed.close();
  });
});
