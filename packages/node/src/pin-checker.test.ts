import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { DetailedPeerCertificate } from "node:tls";
import type { PinFailureReport } from "@keypin/core";
import { createChain, issue, type TestChain } from "@keypin/testkit";
import { PinMismatchError, UntrustedChainError } from "./errors.js";
import { PinChecker } from "./pin-checker.js";
import { HopCache } from "./verified-path.js";

let chain: TestChain;
before(async () => {
  chain = await createChain("p256", ["api.keypin.test"], "checker");
});

/** The shape Node gives checkServerIdentity: the leaf with issuerCertificate links (here: leaf → intermediate). */
function peerOf(...ders: Uint8Array[]): DetailedPeerCertificate {
  const certs = ders.map((der) => ({ raw: Buffer.from(der) }) as DetailedPeerCertificate);
  certs.forEach((cert, i) => {
    cert.issuerCertificate = certs[i + 1] ?? cert;
  });
  return certs[0]!;
}

const pin = (fill: number) => `sha256/${Buffer.alloc(32, fill).toString("base64")}`;

describe("PinChecker.checkPins", () => {
  test("passes a chain whose verified path carries a pinned key, at any position", () => {
    for (const cert of [chain.leaf, chain.intermediate, chain.root]) {
      const checker = new PinChecker({
        policy: { domains: { "api.keypin.test": { pins: [cert.pin, pin(1)] } } },
        ca: [chain.root.pem],
      });
      assert.equal(
        checker.checkPins("api.keypin.test", 443, peerOf(chain.leaf.der, chain.intermediate.der)),
        undefined,
      );
    }
  });

  test("refuses with UntrustedChainError when no verified path exists, and never compares pins with served certificates", async () => {
    const stranger = await issue("p256", { subject: "CN=Unrelated root", ca: true });
    const checker = new PinChecker({
      // The served intermediate's pin is pinned, but nothing links the chain to the only anchor.
      policy: { domains: { "api.keypin.test": { pins: [chain.intermediate.pin, pin(1)] } } },
      ca: [stranger.pem],
      caOnly: true,
    });
    const error = checker.checkPins("api.keypin.test", 8443, peerOf(chain.leaf.der, chain.intermediate.der));
    assert.ok(error instanceof UntrustedChainError);
    assert.equal(error.code, "ERR_KEYPIN_UNTRUSTED_CHAIN");
    assert.equal(error.port, 8443);
  });

  test("report-only: an unverifiable chain and a mismatch let the connection go on, with a warning or a report", async () => {
    const stranger = await issue("p256", { subject: "CN=Unrelated root 2", ca: true });
    const warnings: string[] = [];
    const reports: PinFailureReport[] = [];
    const policy = {
      domains: { "api.keypin.test": { pins: [pin(2), pin(3)], mode: "report-only" as const } },
    };
    const unverifiable = new PinChecker({
      policy,
      ca: [stranger.pem],
      caOnly: true,
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(unverifiable.checkPins("api.keypin.test", 443, peerOf(chain.leaf.der)), undefined);
    assert.equal(warnings.length, 1);

    const mismatching = new PinChecker({ policy, ca: [chain.root.pem], onReport: (r) => reports.push(r) });
    assert.equal(
      mismatching.checkPins("api.keypin.test", 443, peerOf(chain.leaf.der, chain.intermediate.der)),
      undefined,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!["enforce-pinning"], false);
  });

  test("an enforced mismatch returns PinMismatchError carrying the verified chain's pins and the expected pins", () => {
    const checker = new PinChecker({
      policy: { domains: { "api.keypin.test": { pins: [pin(4), pin(5)] } } },
      ca: [chain.root.pem],
      reporting: { send: false },
    });
    const error = checker.checkPins("API.keypin.test", 443, peerOf(chain.leaf.der, chain.intermediate.der));
    assert.ok(error instanceof PinMismatchError);
    assert.deepEqual(
      error.chainPins.map((entry) => entry.pin),
      [chain.leaf.pin, chain.intermediate.pin, chain.root.pin],
    );
    assert.deepEqual(error.expectedPins, [pin(4), pin(5)]);
    assert.equal(error.host, "api.keypin.test");
  });

  test("a host without policy is not pinned: the check leaves it to ordinary validation", () => {
    const checker = new PinChecker({ policy: { domains: { "api.keypin.test": { pins: [pin(6)] } } } });
    assert.equal(checker.checkPins("www.keypin.test", 443, peerOf(chain.leaf.der)), undefined);
  });
});

describe("PinChecker reusing the last verified chain", () => {
  test("a chain served again byte for byte reuses its verified path: no signature is verified or looked up again", () => {
    const hopCache = new HopCache();
    const checker = new PinChecker(
      {
        policy: { domains: { "api.keypin.test": { pins: [chain.intermediate.pin, pin(7)] } } },
        ca: [chain.root.pem],
      },
      { hopCache },
    );
    const served = () => peerOf(chain.leaf.der, chain.intermediate.der);
    assert.equal(checker.checkPins("api.keypin.test", 443, served()), undefined);
    const after = { verifications: hopCache.verifications, hits: hopCache.hits };
    assert.ok(after.verifications >= 2, "the first handshake verified the leaf and intermediate hops");
    for (let i = 0; i < 3; i++) {
      // fresh objects and buffers each time, as Node gives them per handshake
      assert.equal(checker.checkPins("api.keypin.test", 443, served()), undefined);
    }
    assert.deepEqual({ verifications: hopCache.verifications, hits: hopCache.hits }, after);
  });

  test("a chain that differs from the previous one in one certificate is verified again, and refused when a signature fails", async () => {
    const lookAlike = await issue("p256", {
      subject: chain.intermediate.subject,
      issuer: chain.root,
      subjectKeyId: chain.intermediate.skid,
      ca: true,
    });
    const forgedLeaf = await issue("p256", {
      subject: "CN=api.keypin.test",
      issuer: chain.intermediate,
      signingKey: lookAlike,
      dns: ["api.keypin.test"],
    });
    const checker = new PinChecker({
      policy: { domains: { "api.keypin.test": { pins: [chain.intermediate.pin, chain.root.pin] } } },
      ca: [chain.root.pem],
      caOnly: true,
    });
    const genuine = () => peerOf(chain.leaf.der, chain.intermediate.der);
    assert.equal(checker.checkPins("api.keypin.test", 443, genuine()), undefined);
    // the same leaf bytes with a look-alike issuer (same name and key id, another key)
    const swapped = checker.checkPins("api.keypin.test", 443, peerOf(chain.leaf.der, lookAlike.der));
    assert.ok(swapped instanceof UntrustedChainError, `expected UntrustedChainError, got ${swapped}`);
    assert.equal(checker.checkPins("api.keypin.test", 443, genuine()), undefined);
    // the same intermediate bytes under a leaf whose signature is not the intermediate's
    const forged = checker.checkPins("api.keypin.test", 443, peerOf(forgedLeaf.der, chain.intermediate.der));
    assert.ok(forged instanceof UntrustedChainError, `expected UntrustedChainError, got ${forged}`);
    // a prefix of the previous chain is another chain too
    assert.equal(checker.checkPins("api.keypin.test", 443, genuine()), undefined);
    assert.ok(
      checker.checkPins("api.keypin.test", 443, peerOf(chain.leaf.der)) instanceof UntrustedChainError,
    );
  });

  test("the policy is evaluated on every call: a reused path gives each host its own verdict, with the same pins", () => {
    const checker = new PinChecker({
      policy: {
        domains: {
          "api.keypin.test": { pins: [chain.intermediate.pin, pin(8)] },
          "other.keypin.test": { pins: [pin(9), pin(10)] },
        },
      },
      ca: [chain.root.pem],
      reporting: { send: false },
    });
    const served = () => peerOf(chain.leaf.der, chain.intermediate.der);
    const first = checker.checkPins("other.keypin.test", 443, served());
    assert.equal(checker.checkPins("api.keypin.test", 443, served()), undefined);
    const second = checker.checkPins("other.keypin.test", 443, served());
    assert.ok(first instanceof PinMismatchError && second instanceof PinMismatchError);
    assert.deepEqual(second.chainPins, first.chainPins);
    assert.deepEqual(
      second.chainPins.map((entry) => entry.pin),
      [chain.leaf.pin, chain.intermediate.pin, chain.root.pin],
    );
    assert.deepEqual(second.expectedPins, [pin(9), pin(10)]);
  });

  test("each host keeps its own last chain: alternating between two hosts verifies each chain once", async () => {
    const other = await createChain("p256", ["other.keypin.test"], "checker other");
    const hopCache = new HopCache();
    const checker = new PinChecker(
      {
        policy: {
          domains: {
            "api.keypin.test": { pins: [chain.intermediate.pin, pin(11)] },
            "other.keypin.test": { pins: [other.intermediate.pin, pin(12)] },
          },
        },
        ca: [chain.root.pem, other.root.pem],
        caOnly: true,
      },
      { hopCache },
    );
    const api = () => peerOf(chain.leaf.der, chain.intermediate.der);
    const otherServed = () => peerOf(other.leaf.der, other.intermediate.der);
    assert.equal(checker.checkPins("api.keypin.test", 443, api()), undefined);
    assert.equal(checker.checkPins("other.keypin.test", 443, otherServed()), undefined);
    const after = { verifications: hopCache.verifications, hits: hopCache.hits };
    for (let i = 0; i < 3; i++) {
      assert.equal(checker.checkPins("api.keypin.test", 443, api()), undefined);
      assert.equal(checker.checkPins("other.keypin.test", 443, otherServed()), undefined);
    }
    assert.deepEqual({ verifications: hopCache.verifications, hits: hopCache.hits }, after);
    // one host's chain served for the other is checked against that host's pins, not taken from its entry
    const swapped = checker.checkPins("other.keypin.test", 443, api());
    assert.ok(swapped instanceof PinMismatchError, `expected PinMismatchError, got ${swapped}`);
    assert.equal(checker.checkPins("other.keypin.test", 443, otherServed()), undefined);
  });
});
