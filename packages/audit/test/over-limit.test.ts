// Past LIMITS.records kept tunnels (any client of the proxy can fill them with cheap ClientHellos), an expected
// host's interception is still kept (LIMITS.reservedRecords), and a tunnel to an expected host dropped all the
// same fails the expectation ("over-limit"), rather than leaving an earlier "pinned" to pass it (review 2026-12).
// The app's clients are real (Node's TLS through the proxy, to a genuine HTTPS server); the flood is recorded
// events, as the proxy emits them for 20,000 one-hello tunnels.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { type ConnectionOptions, connect as connectTls } from "node:tls";
import { AuditLog, expectationOf, LIMITS, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import { createChain, makeTempDir, startHttpsServer } from "@keypin/testkit";

const API = "api.bank.test";
const CDN = "cdn.bank.test";

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);

/** A TLS 1.3 ClientHello with one cipher suite and an SNI name: what a flooding peer sends, once per tunnel. */
function clientHello(sni: string): Buffer {
  const name = Buffer.concat([Buffer.from([0]), u16(sni.length), Buffer.from(sni)]);
  const list = Buffer.concat([u16(name.length), name]);
  const ext = Buffer.concat([u16(0), u16(list.length), list]);
  const exts = Buffer.concat([u16(ext.length), ext]);
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    u16(0x1302),
    Buffer.from([1, 0]),
    exts,
  ]);
  const hs = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 255, body.length & 255]),
    body,
  ]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}

/** Fills the log up to LIMITS.records with one-hello tunnels of distinct names from another address. */
function flood(log: AuditLog): void {
  const room = LIMITS.records - log.tunnels.size;
  for (let i = 0; i < room; i++) {
    const tunnel = 1_000_000 + i;
    const host = `n${i}.flood.test`;
    log.record({ kind: "connect", tunnel, host, port: 443, client: { address: "10.0.0.66", port: 1 } });
    log.record({ kind: "client-hello", tunnel, record: clientHello(host) });
    log.record({ kind: "closed", tunnel, appBytes: 0, handshake: false });
  }
}

/** A Node TLS client through the proxy to `host`; sends a request when its handshake succeeds. */
async function nodeClient(proxyPort: number, host: string, tls: ConnectionOptions): Promise<string> {
  const socket = connect(proxyPort, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
  const [head] = (await once(socket, "data")) as [Buffer];
  assert.match(head.toString("latin1"), /^HTTP\/1\.1 200/);
  return new Promise((resolve) => {
    const client = connectTls({ socket, servername: host, ...tls });
    client.on("secureConnect", () => {
      client.resume();
      client.end(`GET /me HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer over-limit-token\r\n\r\n`);
      client.once("close", () => resolve("sent"));
    });
    client.on("error", (e: Error & { code?: string }) => {
      client.destroy();
      resolve(e.code ?? e.message);
    });
  });
}

test("past the record limit, an expected host's interception is kept, a refusal dropped fails the expectation, and the report counts both", async () => {
  using tmp = makeTempDir("keypin-audit-over-limit-");
  const genuine = await createChain("p256", [API, CDN], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const audit = await startAudit({
    ca,
    expectPinned: [API],
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  try {
    const port = audit.proxy.port;
    // The app's pinned stack: intercepted on the control host, refuses the expected one.
    assert.equal(await nodeClient(port, CDN, { ca: [ca.certPem] }), "sent");
    assert.notEqual(await nodeClient(port, API, {}), "sent");
    await audit.proxy.idle({ timeoutMs: 5000 });
    flood(audit.log);
    // The same app's second stack (another ClientHello: TLS 1.2 only) sends its token to the expected host...
    assert.equal(
      await nodeClient(port, API, {
        ca: [ca.certPem],
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256",
      }),
      "sent",
    );
    // ...and a third (another cipher list) refuses it: its outcome is unknown once dropped.
    assert.notEqual(
      await nodeClient(port, API, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384" }),
      "sent",
    );
    await audit.proxy.idle({ timeoutMs: 5000 });
    const report = await audit.finish();
    const forApi = report.verdicts.filter((v) => v.host === API).map((v) => v.verdict);
    assert.deepEqual(forApi.sort(), ["intercepted", "pinned"], "the interception past the limit is kept");
    assert.equal(report.kept.tunnelsOverLimit, 1);
    assert.equal(report.kept.tunnelsOverLimitExpected, 1);
    assert.equal(report.expectation?.ok, false);
    assert.deepEqual(
      report.expectation?.failing.map((f) => [f.host, f.verdict, f.tunnels]),
      [
        [API, "intercepted", undefined],
        [API, "over-limit", 1],
      ],
    );
    assert.match(report.expectation!.failing[1]!.explanation!, /record limit .* not proven pinned/);
  } finally {
    await audit.proxy.close();
    await server.close();
  }
});

test("the reserve is for an expected host's application data only, and bounded: past it, tunnels to it are dropped and counted per host", () => {
  const expected = new Set([API]);
  const log = new AuditLog({ expected: (h) => expected.has(h) });
  flood(log);
  let tunnel = 1;
  const intercepted = (address: string, host = API): void => {
    tunnel += 1;
    log.record({ kind: "connect", tunnel, host, port: 443, client: { address, port: 1 } });
    log.record({ kind: "client-hello", tunnel, record: clientHello(host) });
    log.record({ kind: "closed", tunnel, appBytes: 10, handshake: true });
  };
  // Another host's interception past the limit is dropped (no reserve for it), not counted as expected.
  intercepted("10.1.0.1", CDN);
  assert.equal(log.dropped.overLimit, 1);
  assert.equal(log.dropped.overLimitExpected, 0);
  for (let i = 0; i < LIMITS.reservedRecords + 3; i++) intercepted(`10.2.${i >> 8}.${i & 255}`);
  assert.equal(log.tunnels.size, LIMITS.records + LIMITS.reservedRecords);
  assert.equal(log.dropped.overLimitExpected, 3);
  assert.deepEqual([...log.droppedExpected], [[API, 3]]);
  const failing = expectationOf([], [API], { dropped: log.droppedExpected }).failing;
  assert.deepEqual(
    failing.map((f) => [f.host, f.verdict, f.tunnels]),
    [
      [API, "not-seen", undefined],
      [API, "over-limit", 3],
    ],
  );
});
