// One host, one spelling: a client that asks for "api.audit.test." (the DNS root's dot, which Node, curl and
// OpenSSL's host check accept for "api.audit.test") is judged as api.audit.test everywhere: the forged leaf (a
// SAN with the dot fails a client's name-constraints check), the verdicts, --hosts and the expectation (review
// 2026-12: a dotted spelling was "pinned" after a constraint refusal, and its interception escaped
// --expect-pinned). Real sockets on 127.0.0.1, real TLS clients (Node's, curl).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect as connectTls } from "node:tls";
import { type AuditCa, canonicalHost, isHostName, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import {
  createChain,
  curl,
  makeTempDir,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";

const API = "api.audit.test";
const WWW = "www.audit.test";

let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;

before(async () => {
  genuine = await createChain("p256", [API, WWW], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-audit-spelling-");
});

after(async () => {
  await server.close();
  tmp.remove();
});

/**
 * A Node TLS client through the proxy: CONNECT `target`, then TLS with `servername` (trusting `ca`, or nothing),
 * and `data` once the handshake is done. Resolves with "sent", or the client's own error code.
 */
function nodeClient(proxyPort: number, target: string, servername: string, ca?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(proxyPort, "127.0.0.1", () =>
      socket.write(`CONNECT ${target}:443 HTTP/1.1\r\nHost: ${target}:443\r\n\r\n`),
    );
    socket.on("error", (e) => resolve(`net: ${e.message}`));
    let head = "";
    const onData = (d: Buffer): void => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 200")) {
        socket.destroy();
        resolve(`proxy: ${head.split("\r\n")[0]}`);
        return;
      }
      const tls = connectTls({ socket, servername, ...(ca ? { ca: [ca] } : {}), maxVersion: "TLSv1.3" });
      tls.on("secureConnect", () => {
        tls.end(`GET /me HTTP/1.1\r\nHost: ${servername}\r\nAuthorization: Bearer spelled-token\r\n\r\n`);
        tls.resume();
        tls.once("close", () => resolve("sent"));
      });
      tls.on("error", (e: Error & { code?: string }) => {
        tls.destroy();
        resolve(e.code ?? e.message);
      });
    };
    socket.on("data", onData);
  });
}

const upstream = () => ({ host: "127.0.0.1", port: server.port });

test("canonicalHost drops one trailing dot, for names and addresses; a second dot is no host", () => {
  assert.equal(canonicalHost("API.Audit.Test."), API);
  assert.equal(canonicalHost("127.0.0.1."), "127.0.0.1");
  assert.equal(canonicalHost("1.2.3."), "1.2.0.3");
  assert.equal(isHostName(canonicalHost(`${API}.`)), true);
  assert.equal(isHostName(canonicalHost(`${API}..`)), false);
  assert.equal(isHostName(canonicalHost(".")), false);
});

test("--name-constraints: a Node client trusting the CA reaches api.audit.test. (its SNI with the dot): the forged leaf works, it is intercepted, and --expect-pinned fails", async () => {
  const ca: AuditCa = await loadOrCreateAuditCa({
    dir: join(tmp.dir, "nc"),
    nameConstraints: ["audit.test"],
  });
  const audit = await startAudit({
    ca,
    expectPinned: [`${API}.`],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: upstream,
  });
  const control = await nodeClient(audit.proxy.port, WWW, WWW, ca.certPem);
  const dotted = await nodeClient(audit.proxy.port, `${API}.`, `${API}.`, ca.certPem);
  const report = await audit.finish();
  assert.equal(control, "sent");
  // Before: the leaf's SAN kept the dot, the client refused it ("permitted subtree violation"), and the refusal
  // was judged "pinned" with the control on www.
  assert.equal(
    dotted,
    "sent",
    "the forged leaf for the dotted name is accepted by a client that trusts the CA",
  );
  const hosts = report.verdicts.map((v) => `${v.host} ${v.verdict}`);
  assert.deepEqual(hosts, [`${API} intercepted`, `${WWW} intercepted`]);
  assert.deepEqual(report.interceptedDomains, [API, WWW]);
  assert.deepEqual(report.expectation, {
    hosts: [API],
    ok: false,
    failing: [{ host: API, verdict: "intercepted" }],
  });
});

test("api.audit.test and api.audit.test. are one host: a refusal on one spelling and a token sent on the other fail --expect-pinned; --hosts spelled with the dot judges it", async () => {
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "plain") });
  const trusts = join(tmp.dir, "trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const audit = await startAudit({
    ca,
    hosts: [`${API}.`, WWW],
    expectPinned: [API],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: upstream,
  });
  const control = await nodeClient(audit.proxy.port, WWW, WWW, ca.certPem);
  // The same stack without the CA refuses api.audit.test (what a pin looks like to the proxy)...
  const refused = await nodeClient(audit.proxy.port, API, API);
  // ...and with it, spelled with the dot, sends its token.
  const dotted = await nodeClient(audit.proxy.port, `${API}.`, `${API}.`, ca.certPem);
  // curl too: its URL spelled with the dot (curl sends the CONNECT line with it).
  const curled = await curl([
    "--proxy",
    audit.proxy.url,
    "--cacert",
    trusts,
    `https://${API}.:${server.port}/`,
  ]);
  const report = await audit.finish();
  assert.equal(control, "sent");
  assert.notEqual(refused, "sent");
  assert.equal(dotted, "sent");
  assert.equal(curled.code, 0, curled.stderr);
  const forApi = report.verdicts.filter((v) => v.host.startsWith("api."));
  assert.ok(
    forApi.every((v) => v.host === API),
    `one spelling: ${forApi.map((v) => v.host)}`,
  );
  assert.ok(forApi.some((v) => v.verdict === "intercepted"));
  assert.deepEqual(report.interceptedDomains, [API, WWW]);
  assert.equal(report.expectation?.ok, false);
  assert.deepEqual(report.expectation?.failing, [{ host: API, verdict: "intercepted" }]);
});
