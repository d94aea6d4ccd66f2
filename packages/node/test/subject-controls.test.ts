// Review C1: a forged leaf's subject reaches PinMismatchError's message, which a developer reads on a terminal: C1
// controls (U+009B, an 8-bit CSI) and bidirectional overrides (U+202E) in it must come out escaped. Names with those
// characters must still link as before: the path search compares the canonical form, not the display form.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import tls from "node:tls";
import { pinnedTlsOptions } from "@keypin/node";
import { createChain, issue, issueLeaf, policyOf, startHttpsServer } from "@keypin/testkit";

const HOST = "controls.keypin.test";
const HIDDEN = /[\u0080-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;
const CONTROLS = "\u009b2J\u009b31mkeypin: pin OK\u009b0m \u202emoc.tset\u2066\u200f\ufeff";

function handshake(
  port: number,
  options: tls.ConnectionOptions,
): Promise<true | (Error & { code?: string })> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: HOST, ...options });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error) => {
      socket.destroy();
      resolve(error);
    });
  });
}

describe("controls in certificate names", () => {
  test("a forged leaf whose subject carries C1 and bidirectional controls is refused with a message that shows them escaped", async () => {
    const genuine = await createChain("p256", [HOST], "controls genuine");
    const attacker = await createChain("p256", [HOST], "controls attacker");
    const leaf = await issueLeaf("p256", [HOST], attacker.intermediate, { subject: `CN=${CONTROLS}` });
    const server = await startHttpsServer({ key: leaf.keyPem, cert: leaf.pem + attacker.intermediate.pem });
    after(() => server.close());
    const error = await handshake(
      server.port,
      pinnedTlsOptions({
        policy: policyOf({ [HOST]: [genuine.root.pin, genuine.leaf.pin] }),
        ca: [attacker.root.pem],
      }),
    );
    assert.ok(error !== true, "the forged leaf was accepted");
    assert.equal(error.code, "ERR_KEYPIN_PIN_MISMATCH", error.message);
    assert.ok(!HIDDEN.test(error.message), JSON.stringify(error.message));
    assert.ok(
      error.message.includes("CN=\\u009b2J\\u009b31mkeypin: pin OK\\u009b0m \\u202emoc.tset"),
      error.message,
    );
  });

  test("an intermediate named with those controls still links: the genuine chain pins", async () => {
    const root = await issue("p256", { subject: `CN=root ${CONTROLS}`, ca: true });
    const intermediate = await issue("p256", {
      subject: `CN=intermediate ${CONTROLS}`,
      issuer: root,
      ca: true,
    });
    const leaf = await issueLeaf("p256", [HOST], intermediate);
    const server = await startHttpsServer({ key: leaf.keyPem, cert: leaf.pem + intermediate.pem });
    after(() => server.close());
    const result = await handshake(
      server.port,
      pinnedTlsOptions({ policy: policyOf({ [HOST]: [intermediate.pin, root.pin] }), ca: [root.pem] }),
    );
    assert.equal(result, true, result === true ? "" : result.message);
  });
});
