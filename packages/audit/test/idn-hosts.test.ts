// A host named in Unicode is the host a client reaches by its ASCII (punycode) name (review 2): `--expect-pinned
// bücher.audit.test` was kept as typed, so a token sent to xn--bcher-kva.audit.test (what Node, curl and every
// client send in CONNECT and SNI) was judged under another name: the report said "bücher.audit.test not-seen",
// a false explanation, and with `--hosts bücher.audit.test` the interception was not judged at all. Now
// canonicalHost gives a Unicode name's ASCII form, as @keypin/core's normalizeHost does. Real sockets on
// 127.0.0.1, real TLS clients (Node's, curl with libidn2).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect as connectTls } from "node:tls";
import { canonicalHost, isHostName, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import {
  createChain,
  curl,
  makeTempDir,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";

const UNICODE = "bücher.audit.test";
const ASCII = "xn--bcher-kva.audit.test";
const WWW = "www.audit.test";

let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;

before(async () => {
  genuine = await createChain("p256", [ASCII, WWW], "genuine idn");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-audit-idn-");
});

after(async () => {
  await server.close();
  tmp.remove();
});

/** A Node TLS client through the proxy to `host`, trusting `ca`: resolves "sent" once its token is written. */
function nodeClient(proxyPort: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(proxyPort, "127.0.0.1", () =>
      socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`),
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
      const tls = connectTls({ socket, servername: host, ca: [ca] });
      tls.on("secureConnect", () => {
        tls.end(`GET /me HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer idn-token\r\n\r\n`);
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

test("canonicalHost gives a Unicode name's ASCII form, in any case and with the root's dot; text with none is kept and is no host", () => {
  assert.equal(canonicalHost(UNICODE), ASCII);
  assert.equal(canonicalHost(" Bücher.Audit.TEST. "), ASCII);
  assert.equal(canonicalHost(ASCII), ASCII);
  assert.equal(isHostName(canonicalHost(UNICODE)), true);
  // A bidirectional control or a space has no ASCII form: kept, and refused as a host.
  for (const text of ["a\u202eb.audit.test", "bü cher.audit.test"]) {
    assert.equal(canonicalHost(text), text);
    assert.equal(isHostName(canonicalHost(text)), false);
  }
});

test("--expect-pinned bücher.audit.test: a token sent to xn--bcher-kva.audit.test fails it as intercepted, not not-seen", async () => {
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "expect") });
  const audit = await startAudit({
    ca,
    expectPinned: [UNICODE],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: upstream,
  });
  const control = await nodeClient(audit.proxy.port, WWW, ca.certPem);
  const sent = await nodeClient(audit.proxy.port, ASCII, ca.certPem);
  const report = await audit.finish();
  assert.equal(control, "sent");
  assert.equal(sent, "sent");
  assert.deepEqual(
    report.verdicts.map((v) => `${v.host} ${v.verdict}`),
    [`${WWW} intercepted`, `${ASCII} intercepted`],
  );
  assert.deepEqual(report.expectation, {
    hosts: [ASCII],
    ok: false,
    failing: [{ host: ASCII, verdict: "intercepted" }],
  });
});

test("--hosts Bücher.audit.test: curl's https://bücher.audit.test/ (CONNECT and SNI in punycode) is judged, and fails --expect-pinned", async () => {
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "hosts") });
  const trusts = join(tmp.dir, "trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const audit = await startAudit({
    ca,
    hosts: ["Bücher.audit.test", WWW],
    expectPinned: [UNICODE],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: upstream,
  });
  const control = await nodeClient(audit.proxy.port, WWW, ca.certPem);
  const curled = await curl([
    "--proxy",
    audit.proxy.url,
    "--cacert",
    trusts,
    "-H",
    "Authorization: Bearer idn-token",
    `https://${UNICODE}:${server.port}/`,
  ]);
  const report = await audit.finish();
  assert.equal(control, "sent");
  assert.equal(curled.code, 0, curled.stderr);
  assert.deepEqual(
    report.verdicts.map((v) => `${v.host} ${v.verdict}`),
    [`${WWW} intercepted`, `${ASCII} intercepted`],
  );
  assert.deepEqual(report.expectation?.failing, [{ host: ASCII, verdict: "intercepted" }]);
});
