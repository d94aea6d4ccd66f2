import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as connectTls } from "node:tls";
import { pinToBase64 } from "@keypin/core";
import { type LabCast, labScenarios, startCast } from "@keypin/lab";
import { curl, opensslPinOfCertificate } from "@keypin/testkit";
import { expectedCounters, scenarioNamed } from "./scenario-expectations.js";

/** Plays one scenario on the cast: the slice of the attacker's log it produced, as text, and its requests. */
async function attackerLogOf(
  cast: LabCast,
  id: number,
): Promise<{ log: string; observed: string; proxied: boolean }> {
  const scenario = labScenarios.find((s) => s.id === id)!;
  const start = cast.proxy.log.length;
  let proxied = false;
  const observed = await scenario.run({
    cast,
    scenario: id,
    step: (step) => {
      if (step.step === "request" && step.data.proxy !== null) proxied = true;
    },
  });
  return { log: JSON.stringify(cast.proxy.log.slice(start)), observed, proxied };
}

describe("the cast", () => {
  let cast: LabCast;
  let dir: string;

  before(async () => {
    cast = await startCast();
    dir = mkdtempSync(join(tmpdir(), "keypin-lab-test-"));
    writeFileSync(join(dir, "root.pem"), cast.root.pem);
    writeFileSync(join(dir, "device.pem"), cast.root.pem + cast.attackerCa.pem);
  });

  after(async () => {
    await cast.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("puts the token in the attacker's log exactly in the scenarios that expect it stolen, and in no other", async () => {
    const proxied: { id: number; leaks: boolean }[] = [];
    for (const scenario of labScenarios) {
      const { log, observed, proxied: viaProxy } = await attackerLogOf(cast, scenario.id);
      const where = `scenario ${scenario.id} (${scenario.name}, ${observed})`;
      const leaks = expectedCounters(scenario).tokenLeaked;
      assert.equal(log.includes(cast.token), leaks, `${where}: token in the attacker's log?`);
      if (!viaProxy) {
        assert.equal(log, "[]", `${where}: no request through the proxy, nothing in its log`);
        continue;
      }
      proxied.push({ id: scenario.id, leaks });
      // The log is the attacker's own record: where pinning blocks, it saw the CONNECT but never a request.
      assert.ok(log.includes('"kind":"connect"'), `${where}: the proxy logged the CONNECT`);
      assert.equal(log.includes('"kind":"request"'), leaks, `${where}: a decrypted request in the log?`);
    }
    assert.ok(
      proxied.some((p) => p.leaks) && proxied.some((p) => !p.leaks),
      "the proxy both stole a token and was refused one",
    );
  });

  it("reports what really happened when a scenario's premise fails: no installed CA, no stolen token", async () => {
    const install = cast.device.install;
    cast.device.install = () => {}; // the user refuses to install the attacker's CA
    try {
      const { log, observed } = await attackerLogOf(cast, scenarioNamed("attacker-ca-no-pinning").id);
      assert.match(observed, /^failed: /, "the app refused the forged certificate");
      assert.equal(log.includes(cast.token), false);
    } finally {
      cast.device.install = install;
    }
  });

  it("counts in the proxy every decrypted byte a client sends, and logs the request it read", async () => {
    const before = cast.proxy.appBytes;
    const tunnel = connectTcp({ host: "127.0.0.1", port: cast.proxy.port });
    await once(tunnel, "connect");
    tunnel.write(
      `CONNECT ${cast.host}:${cast.backend.port} HTTP/1.1\r\nHost: ${cast.host}:${cast.backend.port}\r\n\r\n`,
    );
    const [answer] = (await once(tunnel, "data")) as [Buffer];
    assert.match(answer.toString(), /^HTTP\/1\.1 200/);
    const tls = connectTls({ socket: tunnel, servername: cast.host, ca: [cast.attackerCa.pem] });
    await once(tls, "secureConnect");
    const request =
      `GET /user/profile HTTP/1.1\r\nHost: ${cast.host}\r\n` +
      `Authorization: Bearer ${cast.token}\r\nConnection: close\r\n\r\n`;
    tls.end(request);
    let response = "";
    tls.on("data", (chunk: Buffer) => {
      response += chunk.toString();
    });
    await once(tls, "close");
    await cast.proxy.idle();
    assert.match(response, /^HTTP\/1\.1 200/);
    assert.equal(cast.proxy.appBytes - before, Buffer.byteLength(request));
    const logged = cast.proxy.log.filter((entry) => entry.kind === "request").at(-1);
    assert.ok(logged?.kind === "request");
    assert.equal(logged.headers["authorization"], `Bearer ${cast.token}`);
  });

  it("serves curl straight to the backend with the lab CA and the leaf pin curl computes itself", async () => {
    const port = cast.backend.port;
    const hits = cast.backend.hits;
    const result = await curl([
      "--cacert",
      join(dir, "root.pem"),
      "--pinnedpubkey",
      `sha256//${pinToBase64(cast.pins.leaf)}`,
      "--resolve",
      `${cast.host}:${port}:127.0.0.1`,
      "-H",
      `Authorization: Bearer ${cast.token}`,
      `${cast.origin}/user/profile`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).email, "sam@example.test");
    assert.equal(cast.backend.hits, hits + 1);
  });

  it("is refused by curl through the proxy when curl pins the leaf key, with no byte of the request read", async () => {
    const bytes = cast.proxy.appBytes;
    const result = await curl([
      "--proxy",
      `http://127.0.0.1:${cast.proxy.port}`,
      "--cacert",
      join(dir, "device.pem"),
      "--pinnedpubkey",
      `sha256//${pinToBase64(cast.pins.leaf)}`,
      "-H",
      `Authorization: Bearer ${cast.token}`,
      `${cast.origin}/user/profile`,
    ]);
    assert.equal(result.code, 90, `curl exit 90 (pinned key mismatch): ${result.stderr}`);
    await cast.proxy.idle();
    assert.equal(cast.proxy.appBytes, bytes);
  });

  it("forges, like mitmproxy, a leaf that carries the attacker CA's own key", async () => {
    const result = await curl([
      "--proxy",
      `http://127.0.0.1:${cast.proxy.port}`,
      "--cacert",
      join(dir, "device.pem"),
      "--pinnedpubkey",
      `sha256//${pinToBase64(cast.pins.attacker)}`,
      `${cast.origin}/user/profile`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).error, "missing or wrong bearer token");
    await cast.proxy.idle();
  });

  it("gives every lab certificate the pin openssl computes from it", () => {
    assert.equal(cast.pins.leaf, opensslPinOfCertificate(cast.leaf.pem));
    assert.equal(cast.pins.intermediate, opensslPinOfCertificate(cast.intermediate.pem));
    assert.equal(cast.pins.root, opensslPinOfCertificate(cast.root.pem));
    assert.equal(cast.pins.attacker, opensslPinOfCertificate(cast.attackerCa.pem));
    assert.equal(
      cast.pins.backup,
      opensslPinOfCertificate(cast.rotatedLeaf.pem),
      "the backup key is the rotated leaf's",
    );
  });

  it("resolves only the lab's own names, never through the real DNS", async () => {
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) =>
      cast.lookup("example.com", {}, (err) => resolve(err)),
    );
    assert.equal(error?.code, "ENOTFOUND");
    const address = await new Promise<unknown>((resolve) =>
      cast.lookup("API.MyApp.com.", { all: true }, (_err, addresses) => resolve(addresses)),
    );
    assert.deepEqual(address, [{ address: "127.0.0.1", family: 4 }]);
  });
});
