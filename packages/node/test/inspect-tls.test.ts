import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { KeypinError } from "@keypin/core";
import { inspectTls } from "@keypin/node";
import {
  createChain,
  startConnectProxy,
  startHttpServer,
  startHttpsServer,
  type TestChain,
  type TestServer,
  trackSockets,
} from "@keypin/testkit";

let chain: TestChain;
let server: TestServer;
let withRoot: TestServer;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  chain = await createChain("p256", ["api.keypin.test"]);
  server = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
  withRoot = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served + chain.root.pem });
  closers.push(server.close, withRoot.close);
});
after(async () => {
  for (const close of closers) await close();
});

const local = { host: "api.keypin.test", connectHost: "127.0.0.1" };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KeypinError, String(error));
    return error.code;
  }
  assert.fail("expected a KeypinError");
}

describe("inspectTls", () => {
  test("reports the served chain as sent, the verified path up to the root, and trust", async () => {
    const seen = await inspectTls({ ...local, port: server.port, ca: [chain.root.pem], caOnly: true });
    assert.equal(seen.servername, "api.keypin.test");
    assert.deepEqual(
      seen.served.map((c) => Buffer.from(c.der)),
      [chain.leaf.der, chain.intermediate.der].map((der) => Buffer.from(der)),
    );
    assert.deepEqual(
      seen.verified?.map((c) => Buffer.from(c.der)),
      [chain.leaf.der, chain.intermediate.der, chain.root.der].map((der) => Buffer.from(der)),
    );
    assert.equal(seen.verified?.[2]?.subject, "O=keypin tests, CN=keypin test root p256");
    assert.equal(seen.trusted, true);
    assert.equal(seen.authorizationError, undefined);
    assert.equal(seen.hostnameError, undefined);
    assert.equal(server.requests.length, 0, "no application data was sent");
  });

  test("shows the root in the served chain only when the server sends it", async () => {
    const seen = await inspectTls({ ...local, port: withRoot.port, ca: [chain.root.pem] });
    assert.equal(seen.served.length, 3);
    assert.equal(seen.verified?.length, 3);
    assert.equal(seen.trusted, true);
  });

  test("reports an untrusted chain instead of failing", async () => {
    const seen = await inspectTls({ ...local, port: server.port });
    assert.equal(seen.trusted, false);
    assert.equal(seen.authorizationError, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    assert.equal(seen.verified, undefined);
    assert.equal(seen.served.length, 2);
  });

  test("reports a certificate that does not match the host name", async () => {
    const seen = await inspectTls({
      host: "other.keypin.test",
      connectHost: "127.0.0.1",
      port: server.port,
      ca: [chain.root.pem],
    });
    assert.equal(seen.trusted, false);
    assert.match(seen.hostnameError ?? "", /other\.keypin\.test/);
  });

  test("goes through an HTTP CONNECT proxy", async () => {
    const proxy = await startConnectProxy();
    closers.push(proxy.close);
    const seen = await inspectTls({
      host: "api.keypin.test",
      port: server.port,
      proxy: proxy.url,
      ca: [chain.root.pem],
    });
    assert.equal(seen.trusted, true);
    assert.ok(proxy.tunnels.includes(`api.keypin.test:${server.port}`));
  });

  test("fails with ERR_KEYPIN_CONNECT when nothing listens", async () => {
    const probe = createTcpServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const { port } = probe.address() as { port: number };
    probe.close();
    await once(probe, "close");
    assert.equal(await codeOf(inspectTls({ host: "127.0.0.1", port })), "ERR_KEYPIN_CONNECT");
  });

  test("fails with ERR_KEYPIN_TIMEOUT when the server never answers the handshake", async () => {
    const silent = createTcpServer((socket: Socket) => socket.on("error", () => {}));
    const close = trackSockets(silent);
    closers.push(close);
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const { port } = silent.address() as { port: number };
    assert.equal(await codeOf(inspectTls({ host: "127.0.0.1", port, timeout: 300 })), "ERR_KEYPIN_TIMEOUT");
  });

  test("fails with ERR_KEYPIN_NOT_TLS on a plain HTTP port", async () => {
    const plain = await startHttpServer();
    closers.push(plain.close);
    assert.equal(await codeOf(inspectTls({ host: "127.0.0.1", port: plain.port })), "ERR_KEYPIN_NOT_TLS");
  });

  test("fails with ERR_KEYPIN_PROXY when the proxy refuses the tunnel or cannot be reached", async () => {
    const refusing = createHttpServer();
    refusing.on("connect", (_req, socket: Socket) => socket.end("HTTP/1.1 403 Forbidden\r\n\r\n"));
    const close = trackSockets(refusing);
    closers.push(close);
    refusing.listen(0, "127.0.0.1");
    await once(refusing, "listening");
    const { port } = refusing.address() as { port: number };
    let message = "";
    try {
      await inspectTls({ host: "api.keypin.test", port: server.port, proxy: `http://127.0.0.1:${port}` });
    } catch (error) {
      assert.equal((error as KeypinError).code, "ERR_KEYPIN_PROXY");
      message = (error as Error).message;
    }
    assert.match(message, /403 Forbidden/);
    await close();
    assert.equal(
      await codeOf(
        inspectTls({ host: "api.keypin.test", port: server.port, proxy: `http://127.0.0.1:${port}` }),
      ),
      "ERR_KEYPIN_PROXY",
    );
  });
});
