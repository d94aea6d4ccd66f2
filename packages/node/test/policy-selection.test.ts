// The policy is chosen by the TLS server name, however it is spelled; options that would weaken validation are refused.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { KeypinError, parsePolicy } from "@keypin/core";
import { createPinnedAgent, createPinnedDispatcher, pinnedTlsOptions } from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  policyOf,
  startHttpsServer,
  type TestChain,
  type TestServer,
  unrelatedPin,
} from "@keypin/testkit";

let chain: TestChain;
let server: TestServer;
const dir = mkdtempSync(join(tmpdir(), "keypin-select-"));

before(async () => {
  chain = await createChain("p384", ["api.keypin.test", "other.keypin.test", "127.0.0.1"], "select");
  server = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Connects with a servername and resolves "ok" or the keypin error code. */
async function outcome(options: ReturnType<typeof pinnedTlsOptions>, servername: string | undefined) {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port: server.port,
    ...(servername ? { servername } : {}),
    ...options,
  });
  try {
    await once(socket, "secureConnect");
    return "ok";
  } catch (error) {
    return keypinCodeOf(error) ?? String(error);
  } finally {
    socket.destroy();
  }
}

describe("policy selection", () => {
  const wrong = () => [unrelatedPin(), unrelatedPin()];

  test("every spelling of a pinned host finds its policy: case and a trailing dot", async () => {
    const options = pinnedTlsOptions({
      policy: policyOf({ "api.keypin.test": wrong() }),
      ca: [chain.root.pem],
    });
    for (const name of ["api.keypin.test", "API.KEYPIN.TEST", "api.keypin.test."]) {
      assert.equal(await outcome(options, name), "ERR_KEYPIN_PIN_MISMATCH", name);
    }
    assert.equal(
      await outcome(options, "other.keypin.test"),
      "ok",
      "a host without policy is only validated",
    );
  });

  test("includeSubdomains covers the host through its parent's entry", async () => {
    const options = pinnedTlsOptions({
      policy: policyOf({ "keypin.test": { includeSubdomains: true, pins: wrong() } }),
      ca: [chain.root.pem],
    });
    assert.equal(await outcome(options, "other.keypin.test"), "ERR_KEYPIN_PIN_MISMATCH");
  });

  test("an IP address host is pinned by its address", async () => {
    const pinned = pinnedTlsOptions({ policy: policyOf({ "127.0.0.1": wrong() }), ca: [chain.root.pem] });
    assert.equal(await outcome(pinned, undefined), "ERR_KEYPIN_PIN_MISMATCH");
    const right = pinnedTlsOptions({
      policy: policyOf({ "127.0.0.1": [chain.leaf.pin, unrelatedPin()] }),
      ca: [chain.root.pem],
    });
    assert.equal(await outcome(right, undefined), "ok");
  });

  test("takes the policy as a keypin.json path, as a policy file object, or as core's normalized policy", async () => {
    const file = policyOf({ "api.keypin.test": [chain.root.pin, unrelatedPin()] });
    const path = join(dir, "keypin.json");
    writeFileSync(path, JSON.stringify(file, null, 2));
    for (const policy of [path, file, parsePolicy(file).policy]) {
      assert.equal(
        await outcome(pinnedTlsOptions({ policy, ca: [chain.root.pem] }), "api.keypin.test"),
        "ok",
      );
    }
    writeFileSync(path, '{ "domains": { "api.keypin.test": { "pins": [] }, } }');
    assert.throws(
      () => createPinnedDispatcher({ policy: path }),
      (error: unknown) =>
        error instanceof KeypinError &&
        error.code === "ERR_KEYPIN_POLICY" &&
        error.message.includes(`${path}:1:`),
    );
  });

  test("refuses options that would switch validation off or bypass the check", () => {
    const policy = policyOf({ "api.keypin.test": wrong() });
    for (const connect of [
      { rejectUnauthorized: false },
      { checkServerIdentity: () => undefined },
      { ca: chain.root.pem },
      { secureContext: {} },
    ]) {
      assert.throws(
        () => createPinnedAgent({ policy, connect }),
        (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_OPTIONS",
        JSON.stringify(Object.keys(connect)),
      );
    }
    assert.throws(
      () => pinnedTlsOptions({ policy, caOnly: true }),
      (error: unknown) => error instanceof KeypinError && error.code === "ERR_KEYPIN_OPTIONS",
    );
    for (const make of [createPinnedAgent, pinnedTlsOptions]) {
      assert.throws(
        () => make({ policy, proxy: "http://127.0.0.1:3128" }),
        (error: unknown) => error instanceof KeypinError && /createPinnedDispatcher only/.test(error.message),
      );
    }
  });
});
