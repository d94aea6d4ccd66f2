// Trust is Node's trust: the bundled roots + NODE_EXTRA_CA_CERTS + `ca` (or only `ca` with caOnly).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createPinnedDispatcher, inspectTls } from "@keypin/node";
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

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "keypin-trust-"));
let chain: TestChain;
let server: TestServer;

before(async () => {
  chain = await createChain("p256", ["api.keypin.test"], "company");
  server = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
  writeFileSync(join(dir, "company-ca.pem"), chain.root.pem);
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function child(pins: string[], otherCa?: string): Promise<Record<string, unknown>> {
  const script = new URL("./helpers/extra-ca-child.ts", import.meta.url).pathname;
  const { stdout } = await run(process.execPath, ["--import", "tsx", script], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      NODE_EXTRA_CA_CERTS: join(dir, "company-ca.pem"),
      KP_PORT: String(server.port),
      KP_PINS: JSON.stringify(pins),
      ...(otherCa ? { KP_OTHER_CA: otherCa } : {}),
    },
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

describe("trust anchors", () => {
  test("a CA from NODE_EXTRA_CA_CERTS anchors the verified path, so its chain is pinned, not called untrusted", async () => {
    const ok = await child([chain.intermediate.pin, unrelatedPin()]);
    assert.equal(ok["pinned"], 200);
    assert.equal(ok["inspectTrusted"], true);
    assert.equal(ok["inspectVerified"], 3);
    assert.equal(ok["naivePath"], undefined, "control: tls.rootCertificates alone lacks the extra CA");
    const wrong = await child([unrelatedPin(), unrelatedPin()]);
    assert.equal(wrong["pinned"], "ERR_KEYPIN_PIN_MISMATCH");
  });

  test("a `ca` option adds to NODE_EXTRA_CA_CERTS: its CA stays trusted (Node's own `ca` would replace the store)", async () => {
    const other = await createChain("p256", ["api.keypin.test"], "unrelated");
    const result = await child([chain.intermediate.pin, unrelatedPin()], other.root.pem);
    assert.equal(result["pinned"], 200);
    assert.equal(result["pinnedWithCa"], 200);
  });

  test("without the CA anywhere, ordinary validation refuses the chain before pins are looked at", async () => {
    const dispatcher = createPinnedDispatcher({
      policy: policyOf({ "api.keypin.test": [chain.intermediate.pin] }),
      connect: { lookup: lookupLocal },
    });
    const before = server.requests.length;
    const error = await rejectionOf(fetch(`https://api.keypin.test:${server.port}/`, { dispatcher }));
    assert.equal(keypinCodeOf(error), undefined);
    assert.equal((error as { cause?: { code?: string } }).cause?.code, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    assert.equal(server.requests.length, before);
    await dispatcher.close();
  });

  test("caOnly trusts only `ca`: a chain from another CA fails validation even if its pins match", async () => {
    const other = await createChain("p256", ["api.keypin.test"], "other");
    const dispatcher = createPinnedDispatcher({
      policy: policyOf({ "api.keypin.test": [chain.intermediate.pin, unrelatedPin()] }),
      ca: [other.root.pem],
      caOnly: true,
      connect: { lookup: lookupLocal },
    });
    const error = await rejectionOf(fetch(`https://api.keypin.test:${server.port}/`, { dispatcher }));
    assert.equal((error as { cause?: { code?: string } }).cause?.code, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    await dispatcher.close();
    const seen = await inspectTls({
      host: "api.keypin.test",
      connectHost: "127.0.0.1",
      port: server.port,
      ca: [other.root.pem],
      caOnly: true,
    });
    assert.equal(seen.trusted, false);
  });
});
