import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { before, describe, test } from "node:test";
import { buildVerifiedPath } from "@keypin/node";
import { createChain, issue, issueLeaf, type KeyKind, type TestChain } from "@keypin/testkit";
import { HopCache } from "../src/verified-path.js";

const kinds: KeyKind[] = ["rsa", "p256", "p384", "ed25519"];
const chains = new Map<KeyKind, TestChain>();

before(async () => {
  for (const kind of kinds) chains.set(kind, await createChain(kind, ["api.keypin.test"]));
});

const chainOf = (kind: KeyKind): TestChain => chains.get(kind)!;

describe("buildVerifiedPath", () => {
  for (const kind of kinds) {
    test(`builds leaf → intermediate → root for a ${kind} chain, adding the root the server did not send`, () => {
      const { root, intermediate, leaf } = chainOf(kind);
      const path = buildVerifiedPath([leaf.der, intermediate.der], [root.der]);
      assert.deepEqual(path, [leaf.der, intermediate.der, root.der]);
    });
  }

  test("ignores served certificates that are not on the path, whatever their order", () => {
    const { root, intermediate, leaf } = chainOf("p256");
    const other = chainOf("rsa");
    const path = buildVerifiedPath(
      [leaf.der, other.intermediate.der, other.root.der, intermediate.der],
      [root.der],
    );
    assert.deepEqual(path, [leaf.der, intermediate.der, root.der]);
  });

  test("returns undefined when the intermediate is missing and the leaf's issuer is no anchor", () => {
    const { root, leaf } = chainOf("p256");
    assert.equal(buildVerifiedPath([leaf.der], [root.der]), undefined);
  });

  test("stops at an anchor that is itself served, and accepts a leaf that is an anchor", () => {
    const { root, intermediate, leaf } = chainOf("p384");
    assert.deepEqual(buildVerifiedPath([leaf.der, intermediate.der], [intermediate.der]), [
      leaf.der,
      intermediate.der,
    ]);
    assert.deepEqual(buildVerifiedPath([leaf.der], [leaf.der, root.der]), [leaf.der]);
  });

  test("finds an anchor whose name differs from the issuer name only in OpenSSL-insignificant whitespace and case", async () => {
    const root = await issue("p256", { subject: "CN=My Root CA", ca: true });
    const leaf = await issueLeaf("p256", ["x.test"], root, { issuerName: "CN=my   ROOT ca" });
    assert.notEqual(leaf.cert.issuer, root.cert.subject);
    assert.deepEqual(buildVerifiedPath([leaf.der], [root.der]), [leaf.der, root.der]);
  });

  test("rejects a forged leaf with the genuine intermediate appended (CVE-2016-2402)", async () => {
    const genuine = chainOf("p256");
    const evilRoot = await issue("p256", { subject: "CN=Evil device CA", ca: true });
    const forged = await issueLeaf("p256", ["api.keypin.test"], evilRoot);
    // Anchors: the genuine root only. The appended genuine intermediate must not make the forgery count.
    assert.equal(buildVerifiedPath([forged.der, genuine.intermediate.der], [genuine.root.der]), undefined);
    // With the attacker's CA trusted (the interception case), the path ends at the attacker's CA, not the pinned key.
    const path = buildVerifiedPath([forged.der, genuine.intermediate.der], [genuine.root.der, evilRoot.der]);
    assert.deepEqual(path, [forged.der, evilRoot.der]);
  });

  test("rejects a forged leaf that names the genuine intermediate as issuer (name and key identifier) but is signed by another key", async () => {
    const genuine = chainOf("rsa");
    const evil = await issue("rsa", { subject: "CN=Evil", ca: true });
    const forged = await issueLeaf("rsa", ["api.keypin.test"], genuine.intermediate, { signingKey: evil });
    assert.deepEqual(forged.cert.issuer, genuine.intermediate.cert.subject);
    assert.equal(
      buildVerifiedPath([forged.der, genuine.intermediate.der], [genuine.root.der], {
        hopCache: new HopCache(),
      }),
      undefined,
    );
  });

  test("never loops on certificates that cross-sign each other, and bounds the path length", async () => {
    const root = await issue("p256", { subject: "CN=Root", ca: true });
    // A → B → A … : two CAs certifying each other, neither reaching the anchor.
    const a = await issue("p256", { subject: "CN=A", ca: true });
    const bKey = await issue("p256", { subject: "CN=B", ca: true });
    const aByB = await issue("p256", { subject: "CN=A", ca: true, issuer: bKey, key: a });
    const bByA = await issue("p256", { subject: "CN=B", ca: true, issuer: a, key: bKey });
    const leaf = await issueLeaf("p256", ["x.test"], a);
    assert.equal(buildVerifiedPath([leaf.der, bByA.der, aByB.der], [root.der]), undefined);

    // A chain of 12 CAs is longer than the 10 allowed, even though every signature verifies.
    const cas = [root];
    for (let i = 1; i <= 11; i++)
      cas.push(await issue("p256", { subject: `CN=CA ${i}`, ca: true, issuer: cas[i - 1] }));
    const deepLeaf = await issueLeaf("p256", ["deep.test"], cas[11]!);
    const served = [
      deepLeaf.der,
      ...cas
        .slice(1)
        .reverse()
        .map((c) => c.der),
    ];
    assert.equal(buildVerifiedPath(served, [root.der]), undefined);
    const shallow = [
      deepLeaf.der,
      ...cas
        .slice(4)
        .reverse()
        .map((c) => c.der),
    ];
    assert.equal(buildVerifiedPath(shallow, [cas[3]!.der])?.length, 10);
  });

  test("the hop cache verifies the same child bytes again when they come with a different issuer", async () => {
    const genuine = chainOf("p256");
    // A look-alike intermediate: same subject name and key identifier, different key, issued by the same root.
    const lookAlike = await issue("p256", {
      subject: genuine.intermediate.subject,
      subjectKeyId: genuine.intermediate.skid,
      issuer: genuine.root,
      ca: true,
    });
    const cache = new HopCache();
    const first = buildVerifiedPath([genuine.leaf.der, genuine.intermediate.der], [genuine.root.der], {
      hopCache: cache,
    });
    assert.equal(first?.length, 3);
    assert.equal(cache.verifications, 2);

    // Same exact leaf bytes, look-alike issuer: a cache keyed by the child (or by names) would say "verified".
    const second = buildVerifiedPath([genuine.leaf.der, lookAlike.der], [genuine.root.der], {
      hopCache: cache,
    });
    assert.equal(second, undefined);
    assert.equal(cache.verifications, 3, "leaf ← look-alike was verified, not taken from the cache");

    // Control: a cache keyed by the child's bytes alone answers "verified" for the look-alike.
    const byChild = new Map<string, boolean>();
    const naiveHop = (child: Uint8Array, issuer: Uint8Array): boolean => {
      const key = Buffer.from(child).toString("base64");
      const hit = byChild.get(key);
      if (hit !== undefined) return hit;
      const ok = new X509Certificate(child).verify(new X509Certificate(issuer).publicKey);
      byChild.set(key, ok);
      return ok;
    };
    assert.equal(naiveHop(genuine.leaf.der, genuine.intermediate.der), true);
    assert.equal(naiveHop(genuine.leaf.der, lookAlike.der), true, "the naive cache is fooled");
    assert.equal(
      new X509Certificate(genuine.leaf.der).verify(new X509Certificate(lookAlike.der).publicKey),
      false,
    );

    // The genuine pair again comes from the cache and gives the same verdict.
    const third = buildVerifiedPath([genuine.leaf.der, genuine.intermediate.der], [genuine.root.der], {
      hopCache: cache,
    });
    assert.deepEqual(third, first);
    assert.equal(cache.verifications, 3);
    assert.equal(cache.hits, 2);
  });
});
