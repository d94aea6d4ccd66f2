// Review B1, bounded work once the hop cache is warm: the path search's verification and cost bounds count only
// signatures it verifies, and hops the process-wide cache already answers were free. A chain whose 16 served
// intermediates all carry one name (subject = issuer = "CN=X"), 8 with key kA signed by kB and 8 with kB signed by kA,
// makes the search walk about 10^7 paths once those hops are cached (17-25 s of blocked event loop per handshake);
// the real intermediate, the 17th served certificate, is one keypin never reads. OpenSSL accepts the chain. Each
// handshake must now stop within the search's step bound (256 links considered, cached or not) with a typed
// untrusted-chain refusal, the hop cache warm or not; counted, not timed.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { createChain, generateKey, issue, type TestCert, type TestChain } from "@keypin/testkit";
import { untrustedChainErrorOf } from "../src/errors.js";
import type { PathCertificate } from "../src/parsed-certificate.js";
import { PinChecker } from "../src/pin-checker.js";
import { HopCache, searchVerifiedPath } from "../src/verified-path.js";

const HOST = "warm.keypin.test";
const MAX_STEPS = 256;
const MAX_VERIFICATIONS = 32;
/** A handshake that asks the cache this many times is far past the bound: stop it there rather than wait seconds. */
const TRIPWIRE = 100 * MAX_STEPS;

/**
 * A hop cache that counts every hop the search asks it about (each signature it needs, answered from the cache or
 * verified now), and throws past a tripwire so that an unbounded search fails the test at once instead of stalling.
 */
class StepCountingHopCache extends HopCache {
  steps = 0;
  tripAt = Number.POSITIVE_INFINITY;
  override cached(child: PathCertificate, issuer: PathCertificate): boolean | undefined {
    if (++this.steps > this.tripAt) throw new Error(`tripwire: ${this.steps} hops asked in one search`);
    return super.cached(child, issuer);
  }
}

const skidOf = (spki: Uint8Array) => createHash("sha1").update(spki).digest("hex");

/** SPKI pin of a PEM certificate, from node:crypto's own export (not keypin's parser). */
function pinOf(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return `sha256/${createHash("sha256").update(spki).digest("base64")}`;
}

/** A TLS server serving the next chain of `chains` (cycling) on each connection. */
async function serve(keyPem: string, chains: string[]): Promise<{ port: number; close(): Promise<void> }> {
  const contexts = chains.map((cert) => tls.createSecureContext({ key: keyPem, cert }));
  let next = 0;
  const server = tls.createServer(
    { key: keyPem, cert: chains[0], SNICallback: (_n, cb) => cb(null, contexts[next++ % contexts.length]) },
    (socket) => {
      socket.on("error", () => {});
      socket.end();
    },
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function connect(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ authorized: boolean } | { error: Error & { code?: string; reason?: string } }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ ...options, host: "127.0.0.1", port, servername: HOST });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve({ authorized: socket.authorized });
    });
    socket.once("error", (error) => {
      socket.destroy();
      resolve({ error });
    });
  });
}

describe("bounded work per handshake once the hop cache is warm", () => {
  let genuine: TestChain;
  let root: TestCert;
  let middle: string;
  let leaves: TestCert[];
  before(async () => {
    genuine = await createChain("p256", [HOST], "warm genuine");
    root = await issue("p256", { subject: "CN=warm attacker root", ca: true });
    const kA = await generateKey("p256");
    const kB = await generateKey("p256");
    const X = "CN=X";
    const pairs: string[] = [];
    for (let i = 0; i < 8; i++) {
      const a = await issue("p256", {
        subject: X,
        issuerName: X,
        key: kA,
        signingKey: kB,
        authorityKeyId: skidOf(kB.spki),
        ca: true,
      });
      const b = await issue("p256", {
        subject: X,
        issuerName: X,
        key: kB,
        signingKey: kA,
        authorityKeyId: skidOf(kA.spki),
        ca: true,
      });
      pairs.push(a.pem, b.pem);
    }
    const real = await issue("p256", { subject: X, key: kA, issuer: root, ca: true });
    middle = pairs.join("") + real.pem;
    // A fresh leaf per connection, as a forging proxy makes them: the checker's per-host last-chain shortcut never
    // applies, and each handshake adds new hops to the cache. The leaf key is reused only to save key generation.
    leaves = [];
    for (let i = 0; i < 12; i++) {
      leaves.push(
        await issue("p256", {
          subject: `CN=${HOST}`,
          issuerName: X,
          signingKey: kA,
          authorityKeyId: skidOf(kA.spki),
          dns: [HOST],
          key: genuine.leaf,
        }),
      );
    }
  });

  test("16 one-name intermediates that cross-sign each other are refused within the step bound on every handshake, cold or warm", async (t) => {
    const server = await serve(
      genuine.leaf.keyPem,
      leaves.map((leaf) => leaf.pem + middle),
    );
    after(() => server.close());
    // Control: OpenSSL (Node's default client, same trust) accepts the crafted chain through the 17th certificate.
    const control = await connect(server.port, { ca: [root.pem], rejectUnauthorized: true });
    assert.ok(
      "authorized" in control && control.authorized,
      `OpenSSL refused the chain: ${JSON.stringify(control)}`,
    );

    const hopCache = new StepCountingHopCache();
    const checker = new PinChecker(
      {
        policy: { domains: { [HOST]: { pins: [genuine.root.pin, genuine.intermediate.pin] } } },
        ca: root.pem,
      },
      { hopCache },
    );
    let lastVerifications = Number.POSITIVE_INFINITY;
    for (let round = 1; round <= 10; round++) {
      const before = { steps: hopCache.steps, verifications: hopCache.verifications };
      hopCache.tripAt = hopCache.steps + TRIPWIRE;
      const result = await connect(server.port, checker.tlsOptions() as tls.ConnectionOptions);
      const steps = hopCache.steps - before.steps;
      const verifications = hopCache.verifications - before.verifications;
      t.diagnostic(
        `handshake ${round}: ${steps} hops asked, ${verifications} verified, cache ${hopCache.size}`,
      );
      assert.ok(
        steps <= MAX_STEPS,
        `handshake ${round}: ${steps} hops asked of the cache (bound ${MAX_STEPS})`,
      );
      assert.ok(verifications <= MAX_VERIFICATIONS, `handshake ${round}: ${verifications} verifications`);
      assert.ok("error" in result, `handshake ${round}: the pinned client accepted the chain`);
      assert.equal(result.error.code, "ERR_KEYPIN_UNTRUSTED_CHAIN", result.error.message);
      assert.equal(result.error.reason, "budget", result.error.message);
      lastVerifications = verifications;
    }
    // The cache was warm by the end: the last search verified almost nothing, so it was the step bound, not the
    // verification bound, that stopped it.
    assert.ok(
      lastVerifications < MAX_VERIFICATIONS / 4,
      `${lastVerifications} verifications in the last search`,
    );
  });

  test("a genuine chain still pins through a hop cache the attack warmed", async () => {
    const server = await serve(genuine.leaf.keyPem, [genuine.served]);
    after(() => server.close());
    const hopCache = new StepCountingHopCache();
    // Warm the cache with the attack chain's hops first (searches that stop at the bound).
    const attackServed = (pem: string) =>
      pem
        .split(/(?=-----BEGIN CERTIFICATE-----)/)
        .map((block) => new Uint8Array(new X509Certificate(block).raw));
    for (const attackLeaf of leaves) {
      const start = hopCache.steps;
      hopCache.tripAt = start + TRIPWIRE;
      const search = searchVerifiedPath(attackServed(attackLeaf.pem + middle), [root.der], { hopCache });
      assert.ok(!search.found && search.reason === "budget", JSON.stringify(search));
      assert.ok(hopCache.steps - start <= MAX_STEPS, `${hopCache.steps - start} hops asked in one search`);
    }
    assert.ok(hopCache.size > 64, `${hopCache.size} hops cached`);
    const checker = new PinChecker(
      {
        policy: { domains: { [HOST]: { pins: [pinOf(genuine.intermediate.pem), genuine.root.pin] } } },
        ca: [genuine.root.pem, root.pem],
      },
      { hopCache },
    );
    const result = await connect(server.port, checker.tlsOptions() as tls.ConnectionOptions);
    assert.ok("authorized" in result && result.authorized, JSON.stringify(result));
  });

  test("a path through a served certificate past the 16th is refused, and the error says keypin did not read it", async () => {
    // 16 served certificates that lead nowhere, then the real intermediate: OpenSSL would find it, keypin does not
    // look that far, and must not blame only the anchors.
    const decoys: TestCert[] = [];
    for (let i = 0; i < 16; i++)
      decoys.push(await issue("p256", { subject: `CN=unrelated ${i}`, issuer: genuine.root, ca: true }));
    const served = [genuine.leaf.der, ...decoys.map((d) => d.der), genuine.intermediate.der];
    const search = searchVerifiedPath(served, [genuine.root.der], { hopCache: new HopCache() });
    assert.ok(!search.found);
    assert.equal(search.reason, "no-path");
    const error = untrustedChainErrorOf(search, { host: HOST, port: 443, served });
    assert.equal(error.code, "ERR_KEYPIN_UNTRUSTED_CHAIN");
    assert.match(error.message, /17 certificates after its leaf and keypin reads only the first 16/);
    // Within the first 16, the same intermediate is found.
    const within = searchVerifiedPath(
      [genuine.leaf.der, ...decoys.slice(1).map((d) => d.der), genuine.intermediate.der],
      [genuine.root.der],
      { hopCache: new HopCache() },
    );
    assert.ok(within.found, JSON.stringify(within));
  });
});
