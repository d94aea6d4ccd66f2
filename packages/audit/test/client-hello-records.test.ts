// A ClientHello may span several TLS records (RFC 8446 5.1; OpenSSL reassembles it, and `openssl s_client
// -max_send_frag 512` sends a long one in two). Such a client, intercepted, must be judged as the same client
// sending its hello in one record: same fingerprint, same verdict, listed in interceptedDomains.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { connect as connectTcp, type Socket } from "node:net";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { after, before, test } from "node:test";
import { connect as connectTls } from "node:tls";
import { type AuditCa, loadOrCreateAuditCa, startAudit } from "@keypin/audit";
import {
  createChain,
  makeTempDir,
  startHttpsServer,
  type TempDir,
  type TestChain,
  type TestServer,
} from "@keypin/testkit";

const SPLIT = "split.audit.test";
const WHOLE = "whole.audit.test";
const TOKEN = "Bearer split-hello-secret-31337";

let genuine: TestChain;
let server: TestServer;
let tmp: TempDir;
let ca: AuditCa;
let trust = "";

before(async () => {
  genuine = await createChain("p256", [SPLIT, WHOLE], "genuine");
  server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  tmp = makeTempDir("keypin-audit-split-hello-");
  ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  trust = join(tmp.dir, "trusts-audit.pem");
  writeFileSync(trust, genuine.root.pem + ca.certPem);
});

after(async () => {
  await server.close();
  tmp.remove();
});

const startSession = () =>
  startAudit({
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });

const request = (host: string): string =>
  `GET /user/profile HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${TOKEN}\r\nConnection: close\r\n\r\n`;

test("openssl s_client sending its ClientHello in two records (-max_send_frag 512) is intercepted with the fingerprint it has in one record", async () => {
  // A long ALPN list makes openssl's ClientHello about 730 bytes, so -max_send_frag 512 fragments it.
  const alpn = ["http/1.1", "x".repeat(200), "y".repeat(200)].join(",");
  const audit = await startSession();
  const run = (host: string, extra: string[]) =>
    new Promise<number>((resolve) => {
      const child = execFile(
        "openssl",
        [
          "s_client",
          "-proxy",
          `127.0.0.1:${audit.proxy.port}`,
          "-connect",
          `${host}:${server.port}`,
          "-servername",
          host,
          "-CAfile",
          trust,
          "-verify_return_error",
          "-alpn",
          alpn,
          "-quiet",
          ...extra,
        ],
        { timeout: 20_000 },
        (error) => resolve(error ? ((error as { code?: number }).code ?? -1) : 0),
      );
      child.stdin?.end(request(host));
    });
  assert.equal(await run(SPLIT, ["-max_send_frag", "512"]), 0);
  assert.equal(await run(WHOLE, []), 0);
  const report = await audit.finish();
  const of = (host: string) => report.verdicts.filter((v) => v.host === host);
  assert.deepEqual(
    report.verdicts.map((v) => [v.host, v.verdict]),
    [
      [SPLIT, "intercepted"],
      [WHOLE, "intercepted"],
    ],
  );
  const [split] = of(SPLIT);
  const [whole] = of(WHOLE);
  assert.notEqual(split?.client.fingerprint, "");
  assert.equal(
    split?.client.fingerprint,
    whole?.client.fingerprint,
    "one client, however it frames its hello",
  );
  assert.equal(split?.evidence.clientHello, undefined);
  assert.equal(split?.evidence.requests?.[0]?.requestLine, "GET /user/profile HTTP/1.1");
  assert.deepEqual(report.interceptedDomains, [SPLIT, WHOLE]);
  assert.equal(report.kept.tunnelsUnjudged, 0);
});

/**
 * A duplex over a tunnel's socket that sends the client's ClientHello record as two records (cut `cut` bytes into
 * its body), in two TCP writes `pauseMs` apart, so that the proxy reads them in two chunks.
 */
function splittingHello(raw: Socket, cut: number, pauseMs: number): Duplex {
  let first = true;
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      if (!first || chunk[0] !== 0x16) return void raw.write(chunk, callback);
      first = false;
      const length = chunk.readUInt16BE(3);
      const body = chunk.subarray(5, 5 + length);
      const record = (b: Buffer) =>
        Buffer.concat([chunk.subarray(0, 3), Buffer.from([b.length >> 8, b.length & 0xff]), b]);
      raw.write(record(body.subarray(0, cut)));
      setTimeout(
        () => raw.write(Buffer.concat([record(body.subarray(cut)), chunk.subarray(5 + length)]), callback),
        pauseMs,
      );
    },
    final(callback) {
      raw.end(callback);
    },
  });
  raw.on("data", (chunk: Buffer) => duplex.push(chunk));
  raw.on("end", () => duplex.push(null));
  raw.on("close", () => duplex.destroy());
  return duplex;
}

/** Node's TLS client through the audit proxy by hand: CONNECT, then one GET; the hello split or not. */
async function nodeThrough(proxyPort: number, host: string, split: boolean): Promise<string> {
  const raw = connectTcp({ host: "127.0.0.1", port: proxyPort });
  await once(raw, "connect");
  raw.write(`CONNECT ${host}:${server.port} HTTP/1.1\r\nHost: ${host}:${server.port}\r\n\r\n`);
  const [answer] = (await once(raw, "data")) as [Buffer];
  assert.match(answer.toString("latin1"), /^HTTP\/1\.1 200/);
  const socket = split ? (splittingHello(raw, 40, 200) as unknown as Socket) : raw;
  const tls = connectTls({ socket, servername: host, ca: [ca.certPem] });
  await once(tls, "secureConnect");
  let got = "";
  tls.on("data", (chunk: Buffer) => (got += chunk.toString("latin1")));
  tls.end(request(host));
  await once(tls, "close");
  raw.destroy();
  return got.split("\r\n")[0] ?? "";
}

test("a Node client whose ClientHello arrives as two records in two TCP segments is intercepted like the one-record control", async () => {
  const audit = await startSession();
  assert.equal(await nodeThrough(audit.proxy.port, SPLIT, true), "HTTP/1.1 200 OK");
  assert.equal(await nodeThrough(audit.proxy.port, WHOLE, false), "HTTP/1.1 200 OK");
  const decrypted = audit.proxy.appBytes;
  const report = await audit.finish();
  assert.ok(decrypted > 0);
  assert.deepEqual(
    report.verdicts.map((v) => [v.host, v.verdict]),
    [
      [SPLIT, "intercepted"],
      [WHOLE, "intercepted"],
    ],
  );
  const [split, whole] = report.verdicts;
  assert.notEqual(split?.client.fingerprint, "");
  assert.equal(split?.client.fingerprint, whole?.client.fingerprint);
  assert.equal(split?.evidence.requestCount, 1);
  assert.deepEqual(report.interceptedDomains, [SPLIT, WHOLE]);
  assert.equal(report.kept.tunnelsUnjudged, 0);
});
