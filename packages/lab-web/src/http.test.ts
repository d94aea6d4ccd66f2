// sendError: a fault becomes a 500 that says nothing of it (no message, no stack), the log gets the error.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, it } from "node:test";
import { HttpError } from "./errors.js";
import { isAllowedHost, sendError } from "./http.js";

describe("sendError", () => {
  it("answers a fault with a 500 ERR_LAB_WEB_INTERNAL without its message or stack, and logs the error", async () => {
    const logged: unknown[] = [];
    const fault = new Error("the secret detail at /work/main/packages/lab-web/src/server.ts");
    const server = createServer((req, res) =>
      sendError(res, req.url === "/typed" ? new HttpError("ERR_LAB_WEB_BUSY", "busy") : fault, (e) =>
        logged.push(e),
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(response.status, 500);
      const text = await response.text();
      assert.deepEqual(JSON.parse(text), {
        error: {
          code: "ERR_LAB_WEB_INTERNAL",
          message: "The lab server failed on this request; its log says why.",
        },
      });
      assert.doesNotMatch(text, /secret|server\.ts|\bat\b/);
      assert.deepEqual(logged, [fault]);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      const typed = await fetch(`http://127.0.0.1:${port}/typed`);
      assert.equal(typed.status, 409);
      assert.deepEqual(await typed.json(), { error: { code: "ERR_LAB_WEB_BUSY", message: "busy" } });
      assert.equal(logged.length, 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("isAllowedHost", () => {
  it("takes only this server's own loopback names with its port", () => {
    assert.equal(isAllowedHost("127.0.0.1:8080", 8080), true);
    assert.equal(isAllowedHost("localhost:8080", 8080), true);
    assert.equal(isAllowedHost("[::1]:8080", 8080), true);
    for (const host of [
      undefined,
      "",
      "127.0.0.1",
      "localhost",
      "127.0.0.1:80",
      "evil.example:8080",
      "127.0.0.2:8080",
    ]) {
      assert.equal(isAllowedHost(host, 8080), false, String(host));
    }
  });
});
