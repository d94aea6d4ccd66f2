import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import type { DetailedPeerCertificate } from "node:tls";
import { createChain, type TestChain } from "@keypin/testkit";
import { isPeerChain, peerChainOf } from "./peer-chain.js";

let chain: TestChain;
let other: TestChain;
before(async () => {
  chain = await createChain("p256", ["api.keypin.test"], "peer chain");
  other = await createChain("p256", ["api.keypin.test"], "peer chain other");
});

/** Node's shape: leaf first, linked by issuerCertificate, the last certificate linked to itself. */
function peerOf(...ders: Uint8Array[]): DetailedPeerCertificate {
  const certs = ders.map((der) => ({ raw: Buffer.from(der) }) as DetailedPeerCertificate);
  certs.forEach((cert, i) => {
    cert.issuerCertificate = certs[i + 1] ?? cert;
  });
  return certs[0]!;
}

describe("isPeerChain", () => {
  test("recognizes exactly the chain peerChainOf gives for the same handshake, self-linked root included", () => {
    const peer = peerOf(chain.leaf.der, chain.intermediate.der, chain.root.der);
    const served = peerChainOf(peer);
    assert.equal(served.length, 3);
    assert.equal(isPeerChain(peerOf(chain.leaf.der, chain.intermediate.der, chain.root.der), served), true);
  });

  test("refuses a chain that differs in one certificate, in order, or in length", () => {
    const served = peerChainOf(peerOf(chain.leaf.der, chain.intermediate.der, chain.root.der));
    const refused: [string, DetailedPeerCertificate][] = [
      ["another intermediate", peerOf(chain.leaf.der, other.intermediate.der, chain.root.der)],
      ["another leaf", peerOf(other.leaf.der, chain.intermediate.der, chain.root.der)],
      ["another root", peerOf(chain.leaf.der, chain.intermediate.der, other.root.der)],
      ["a prefix", peerOf(chain.leaf.der, chain.intermediate.der)],
      [
        "one more certificate",
        peerOf(chain.leaf.der, chain.intermediate.der, chain.root.der, other.root.der),
      ],
      ["another order", peerOf(chain.leaf.der, chain.root.der, chain.intermediate.der)],
    ];
    for (const [what, peer] of refused) assert.equal(isPeerChain(peer, served), false, what);
    const flipped = Buffer.from(chain.intermediate.der);
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(
      isPeerChain(peerOf(chain.leaf.der, flipped, chain.root.der), served),
      false,
      "one bit flipped",
    );
    assert.equal(isPeerChain(undefined, served), false, "no certificate");
  });
});
