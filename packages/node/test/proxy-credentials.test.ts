// A proxy URL's user name and password never reach an error message, whatever is wrong with the URL or the proxy.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { isKeypinError } from "@keypin/core";
import { createPinnedDispatcher } from "@keypin/node";
import { lookupLocal, policyOf, rejectionOf, unrelatedPin } from "@keypin/testkit";
import { fetch } from "undici";

const SECRET = "S3cr3tProxyPass";
const policy = policyOf({ "api.keypin.test": [unrelatedPin(), unrelatedPin()] });

/** Everything an app might log about an error: its message, its stack, its string and JSON forms, its cause's. */
function everythingSaid(error: unknown): string {
  const e = error as Error & { cause?: unknown };
  return [e.message, e.stack, String(e), JSON.stringify(e), e.cause ? everythingSaid(e.cause) : ""].join(
    "\n",
  );
}

describe("proxy credentials in errors", () => {
  test("a proxy URL that does not parse is refused without its password", () => {
    for (const proxy of [
      `http://alice:${SECRET}@proxy.corp:99999`,
      `http://alice:${SECRET}@[::1`,
      `http://alice:${SECRET}@proxy corp:3128`,
      `http://al@ice:${SECRET}@proxy.corp:3128x`,
    ]) {
      let thrown: unknown;
      try {
        createPinnedDispatcher({ policy, proxy });
      } catch (error) {
        thrown = error;
      }
      assert.ok(isKeypinError(thrown) && thrown.code === "ERR_KEYPIN_PROXY", proxy);
      assert.ok(!everythingSaid(thrown).includes(SECRET), `${proxy}: ${everythingSaid(thrown)}`);
      assert.match((thrown as Error).message, /proxy.corp|::1/, "it still says which proxy");
    }
  });

  test("a proxy of another scheme, or one that refuses or cannot be reached, is reported without its password", async () => {
    let thrown: unknown;
    try {
      createPinnedDispatcher({ policy, proxy: `socks5://alice:${SECRET}@proxy.corp:1080` });
    } catch (error) {
      thrown = error;
    }
    assert.ok(isKeypinError(thrown), "an unsupported scheme is refused");
    assert.ok(!everythingSaid(thrown).includes(SECRET));

    // A proxy that answers 407 to every CONNECT, and a port nobody listens on.
    const refusing = createServer((socket) => {
      socket.once("data", () => socket.end("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"));
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    const refusingPort = (refusing.address() as { port: number }).port;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    try {
      for (const port of [refusingPort, closedPort]) {
        const dispatcher = createPinnedDispatcher({
          policy,
          proxy: `http://alice:${SECRET}@127.0.0.1:${port}`,
          connect: { lookup: lookupLocal },
        });
        const error = await rejectionOf(fetch("https://api.keypin.test:443/", { dispatcher }));
        assert.ok(!everythingSaid(error).includes(SECRET), everythingSaid(error));
        await dispatcher.close();
      }
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });
});
