// onVerdict: every full handshake to a covered host reports keypin's own verdict, and the listener can
// observe it but never change it.
import assert from "node:assert/strict";
import { get as httpsGet } from "node:https";
import { after, before, describe, test } from "node:test";
import { type PinVerdict, parseCertificate } from "@keypin/core";
import { createPinnedAgent, createPinnedDispatcher } from "@keypin/node";
import {
  createChain,
  keypinCodeOf,
  lookupLocal,
  policyOf,
  rejectionOf,
  startHttpsServer,
  type TestChain,
  type TestServer,
  unrelatedPin,
} from "@keypin/testkit";
import { fetch } from "undici";

const HOST = "api.keypin.test";
const OTHER = "other.keypin.test";
let chain: TestChain;
let server: TestServer;

before(async () => {
  chain = await createChain("p256", [HOST, OTHER], "verdicts");
  server = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
  // Node's 5 s default leaves undici ~3 s between keep-alive requests; a stalled runner must not force a
  // second handshake into the "once per connection" test.
  server.server.keepAliveTimeout = 60_000;
});
after(() => server.close());

const url = (host = HOST, path = "/") => `https://${host}:${server.port}${path}`;
// No TLS session cache: each new connection is a full handshake, so each one gets a check.
const connect = { lookup: lookupLocal, maxCachedSessions: 0 };

interface Seen {
  verdict: PinVerdict;
  port: number;
}

function recorder(): { seen: Seen[]; onVerdict: (verdict: PinVerdict, c: { port: number }) => void } {
  const seen: Seen[] = [];
  return { seen, onVerdict: (verdict, c) => seen.push({ verdict, port: c.port }) };
}

describe("onVerdict", () => {
  test("a pinned handshake reports which pin matched where, once per connection (not per request)", async () => {
    const { seen, onVerdict } = recorder();
    const dispatcher = createPinnedDispatcher({
      policy: policyOf({ [HOST]: [chain.intermediate.pin, unrelatedPin()] }),
      ca: chain.root.pem,
      connect,
      onVerdict,
      agent: { connections: 1 }, // one socket per origin, so the three requests share it
    });
    const before = server.connections;
    for (const path of ["/a", "/b", "/c"]) {
      const res = await fetch(url(HOST, path), { dispatcher }); // keep-alive: one connection
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    assert.equal(server.connections - before, 1, "one connection for the three requests");
    assert.equal(seen.length, 1);
    const { verdict, port } = seen[0]!;
    assert.equal(port, server.port);
    assert.equal(verdict.verdict, "pinned");
    assert.ok(verdict.verdict === "pinned");
    assert.equal(verdict.host, HOST);
    assert.deepEqual(verdict.matched, {
      position: 1,
      subject: parseCertificate(chain.intermediate.der).subject, // the intermediate's own subject
      pin: chain.intermediate.pin,
    });
    assert.deepEqual(
      verdict.chainPins.map((c) => c.pin),
      [chain.leaf.pin, chain.intermediate.pin, chain.root.pin],
    );
    await dispatcher.close();
  });

  test("mismatches are reported enforced (refused) or report-only (allowed); an expired set as not-pinned", async () => {
    const wrong = [unrelatedPin(), unrelatedPin()];
    const cases = [
      { domain: { pins: wrong }, expect: { verdict: "mismatch", enforced: true }, refused: true },
      {
        domain: { pins: wrong, mode: "report-only" as const },
        expect: { verdict: "mismatch", enforced: false },
      },
      {
        domain: { pins: wrong, expires: "2020-01-01" },
        expect: { verdict: "not-pinned", reason: "expired" },
      },
    ];
    for (const { domain, expect, refused } of cases) {
      const { seen, onVerdict } = recorder();
      const dispatcher = createPinnedDispatcher({
        policy: policyOf({ [HOST]: domain }),
        ca: chain.root.pem,
        connect,
        onVerdict,
        onWarning: () => {},
        reporting: { send: false },
      });
      const request = fetch(url(), { dispatcher });
      if (refused) {
        assert.equal(keypinCodeOf(await rejectionOf(request)), "ERR_KEYPIN_PIN_MISMATCH");
      } else {
        const res = await request;
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      assert.equal(seen.length, 1, JSON.stringify(expect));
      assert.deepEqual(
        Object.fromEntries(
          Object.keys(expect).map((k) => [k, (seen[0]!.verdict as Record<string, unknown>)[k]]),
        ),
        expect,
      );
      await dispatcher.close();
    }
  });

  test("a host outside the policy gives no verdict; an https.Agent reports like the dispatcher", async () => {
    const { seen, onVerdict } = recorder();
    const agent = createPinnedAgent({
      policy: policyOf({ [HOST]: [chain.root.pin, unrelatedPin()] }),
      ca: chain.root.pem,
      connect: { lookup: lookupLocal },
      onVerdict,
    });
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        httpsGet(url(host), { agent, lookup: lookupLocal }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        }).on("error", reject);
      });
    assert.equal(await status(OTHER), 200);
    assert.equal(seen.length, 0, "no verdict for a host the policy does not cover");
    assert.equal(await status(HOST), 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.verdict.verdict, "pinned");
    assert.ok(seen[0]!.verdict.verdict === "pinned" && seen[0]!.verdict.matched.position === 2);
    agent.destroy();
  });

  test("a listener that throws changes nothing: pinned still connects, a mismatch is still refused", async () => {
    for (const pins of [
      [chain.leaf.pin, unrelatedPin()],
      [unrelatedPin(), unrelatedPin()],
    ]) {
      const warnings: string[] = [];
      const dispatcher = createPinnedDispatcher({
        policy: policyOf({ [HOST]: pins }),
        ca: chain.root.pem,
        connect,
        onVerdict: () => {
          throw new Error("listener bug");
        },
        onWarning: (message) => warnings.push(message),
      });
      const request = fetch(url(), { dispatcher });
      if (pins[0] === chain.leaf.pin) {
        const res = await request;
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      } else {
        assert.equal(keypinCodeOf(await rejectionOf(request)), "ERR_KEYPIN_PIN_MISMATCH");
      }
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /onVerdict threw \(listener bug\); the verdict stands/);
      await dispatcher.close();
    }
  });

  test("a listener that edits the verdict it is given cannot turn a mismatch into a pass", async () => {
    const edits: [string, (v: PinVerdict) => void][] = [
      ["verdict", (v) => Object.assign(v, { verdict: "pinned" })],
      ["enforced", (v) => Object.assign(v, { enforced: false })],
      ["expected pins", (v) => (v as { expectedPins: string[] }).expectedPins.push(chain.leaf.pin)],
    ];
    for (const [what, edit] of edits) {
      const thrown: string[] = [];
      const dispatcher = createPinnedDispatcher({
        policy: policyOf({ [HOST]: [unrelatedPin(), unrelatedPin()] }),
        ca: chain.root.pem,
        connect,
        onVerdict: (verdict) => {
          try {
            edit(verdict);
          } catch (error) {
            thrown.push((error as Error).name);
          }
        },
        onWarning: () => {},
      });
      assert.equal(
        keypinCodeOf(await rejectionOf(fetch(url(), { dispatcher }))),
        "ERR_KEYPIN_PIN_MISMATCH",
        what,
      );
      assert.deepEqual(thrown, ["TypeError"], `${what}: the verdict handed out is frozen`);
      await dispatcher.close();
    }
  });
});
