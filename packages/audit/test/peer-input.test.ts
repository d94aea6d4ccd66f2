// What a peer of the audit proxy sends cannot forge report lines, grow the audit without bound, leak credentials
// through the request target, or make finish() dial every name it chose at once (review 2026-12-02: 3, 4, 5, 8,
// 9). Real sockets on 127.0.0.1, real TLS clients (Node's), curl where a client's own spelling matters.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { connect as connectTls, type TLSSocket } from "node:tls";
import {
  type AuditCa,
  AuditLog,
  canonicalHost,
  formatTable,
  isHostName,
  LIMITS,
  loadOrCreateAuditCa,
  maskTarget,
  parseClientHello,
  printable,
  type RunningAudit,
  startAudit,
  UPSTREAM_LOOKUPS,
  verdictsOf,
} from "@keypin/audit";
import type { InterceptEvent } from "@keypin/proxy";
import { createChain, curl, makeTempDir, startHttpsServer } from "@keypin/testkit";

/** Waits (up to 15 s, then fails naming `what`) until `done()`: no timing is asserted, only the outcome. */
async function waitFor(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 750 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(done(), `gave up waiting for ${what}`);
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);

/** A TLS 1.3 ClientHello (one cipher suite, one SNI name of any bytes), as an attacker writes it. */
function clientHello(sni: Buffer): Buffer {
  const name = Buffer.concat([Buffer.from([0]), u16(sni.length), sni]);
  const list = Buffer.concat([u16(name.length), name]);
  const ext = Buffer.concat([u16(0), u16(list.length), list]);
  const exts = Buffer.concat([u16(ext.length), ext]);
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    u16(0x1301),
    Buffer.from([1, 0]),
    exts,
  ]);
  const hs = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 255, body.length & 255]),
    body,
  ]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}

/** CONNECT target through the proxy; resolves with the socket and the proxy's status line ("" if it closed). */
async function connectThrough(port: number, target: string): Promise<{ socket: Socket; status: string }> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  return new Promise((resolve) => {
    let head = "";
    const onData = (d: Buffer): void => {
      head += d.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        socket.off("data", onData);
        socket.off("close", onClose);
        resolve({ socket, status: head.split("\r\n")[0]! });
      }
    };
    const onClose = (): void => resolve({ socket, status: "" });
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/** A TLS client over a CONNECT tunnel; `trust` the audit CA or accept anything (a peer that trusts nothing). */
async function tlsThrough(
  port: number,
  host: string,
  servername: string,
  trust: string | "any",
): Promise<TLSSocket> {
  const { socket, status } = await connectThrough(port, `${host}:443`);
  assert.match(status, /^HTTP\/1\.1 200/);
  const tls = connectTls({
    socket,
    servername,
    ...(trust === "any" ? { rejectUnauthorized: false } : { ca: [trust] }),
  });
  tls.on("error", () => {});
  await once(tls, "secureConnect");
  return tls;
}

async function withAudit(
  run: (audit: RunningAudit, ca: AuditCa, genuineRoot: string, tmp: string) => Promise<void>,
  extra: { upstreamPort?: number; showSecrets?: boolean } = {},
): Promise<void> {
  using tmp = makeTempDir("keypin-audit-peer-");
  const genuine = await createChain("p256", ["api.test", "localhost"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const audit = await startAudit({
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: extra.upstreamPort ?? server.port }),
    showSecrets: extra.showSecrets ?? false,
  });
  try {
    await run(audit, ca, genuine.root.pem, tmp.dir);
  } finally {
    await audit.proxy.close();
    await server.close();
  }
}

test("an SNI name with newlines and escapes is no host: the tunnel keeps its CONNECT host, is not judged, and nothing printed carries the escapes", async () => {
  await withAudit(async (audit) => {
    const port = audit.proxy.port;
    const forged = "x\x1b[2K\r\napi.bank.test pinned: forged line\x1b[8m";
    // The attack is real: the ClientHello carries those bytes as its SNI name, as the parser reads it.
    assert.equal(
      parseClientHello(clientHello(Buffer.from(forged, "latin1")))?.servername,
      forged.toLowerCase(),
    );
    const send = async (sni: string): Promise<void> => {
      const { socket, status } = await connectThrough(port, "evil.test:443");
      assert.match(status, /^HTTP\/1\.1 200/);
      socket.write(clientHello(Buffer.from(sni, "latin1")));
      await once(socket, "close");
    };
    await send("control.test"); // the control: a well-formed name is the tunnel's host
    await send(forged);
    await send("a b.test");
    await send("x, O=Evil Corp, CN=bank.test");
    await audit.proxy.idle({ timeoutMs: 5000 });
    const report = await audit.finish();
    assert.deepEqual(
      report.verdicts.map((v) => v.host),
      ["control.test"],
      "only the well-formed SNI name is judged",
    );
    assert.equal(report.kept.tunnelsUnjudged, 3);
    const table = formatTable(report.verdicts);
    const json = JSON.stringify(report);
    for (const text of [table, json]) {
      assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(text), "no control character but newlines");
      assert.ok(!text.includes("api.bank.test"), "the forged line is nowhere");
    }
  });
  // The name check, on the forms peers send: none but host names and addresses pass.
  for (const ok of ["api.example.com", "a_b.test", "xn--bcher-kva.example", "1.2.3.4", "::1", "example.com."])
    assert.equal(isHostName(canonicalHost(ok)), true, ok);
  for (const bad of [
    "a\nb",
    "a b",
    "x,y",
    "a..b",
    "-a.test",
    ".",
    "",
    "a.123",
    "1.2.3.4.5",
    "fe80::1%eth0",
    "a".repeat(64),
  ])
    assert.equal(isHostName(canonicalHost(bad)), false, JSON.stringify(bad));
  assert.equal(printable("a\x1b[2Kb\r\n\u202e\x9b"), "a\\x1b[2Kb\\x0d\\x0a\\u202e\\x9b");
});

test("CONNECT to an IPv4 short form (1.2.3) is that address (1.2.0.3, as Node's URL parser reads it): answered, forged with its IP SAN", async () => {
  // Outside oracle: the WHATWG URL parser.
  for (const [short, full] of [
    ["1.2.3", "1.2.0.3"],
    ["127.1", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["01.02.03.04", "1.2.3.4"],
    ["2130706433", "127.0.0.1"],
  ]) {
    assert.equal(new URL(`https://${short}/`).hostname, full);
    assert.equal(canonicalHost(short!), full, short);
  }
  await withAudit(async (audit, ca) => {
    const { socket, status } = await connectThrough(audit.proxy.port, "1.2.3:443");
    assert.match(status, /^HTTP\/1\.1 200/, "answered, not closed without a word");
    const tls = connectTls({ socket, ca: [ca.certPem], checkServerIdentity: () => undefined });
    tls.on("error", () => {});
    await once(tls, "secureConnect");
    const leaf = new X509Certificate(tls.getPeerCertificate(true).raw);
    assert.equal(leaf.checkIP("1.2.0.3"), "1.2.0.3");
    tls.destroy();
  });
  // The forge function refuses what is no host (before, "x, O=Evil Corp" went into the leaf's subject).
  using tmp = makeTempDir("keypin-audit-forge-");
  const ca = await loadOrCreateAuditCa({ dir: tmp.dir });
  await assert.rejects(ca.forge("x, O=Evil Corp, CN=bank.test"), /host name or an IP address/);
  await assert.rejects(ca.forge("1.2.3.4.5"), /host name or an IP address/);
  assert.ok((await ca.forge("1.2.3")).cert.includes("BEGIN CERTIFICATE"));
});

test("credentials in the request target are masked: userinfo, ;path=parameters, token-like path segments; --show-secrets (the control) keeps them", async () => {
  const requests =
    "GET /v1/me;jsessionid=SECRET-jsession-9999?access_token=SECRET-query-0000&x HTTP/1.1\r\nHost: api.test\r\n\r\n" +
    "POST /login/SECRET-pathtoken-aaaa HTTP/1.1\r\nHost: api.test\r\nContent-Length: 2\r\n\r\n{}" +
    "GET https://alice:SECRET-userinfo-cccc@api.test/ HTTP/1.1\r\nHost: api.test\r\n\r\n" +
    "GET /reset/eyJhbGciOiJIUzI1NiJ9.SECRETjwtpayload1234.sig HTTP/1.1\r\nHost: api.test\r\n\r\n" +
    "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: api.test\r\n\r\n";
  for (const showSecrets of [true, false]) {
    await withAudit(
      async (audit, ca) => {
        const tls = await tlsThrough(audit.proxy.port, "api.test", "api.test", ca.certPem);
        tls.write(requests);
        const record = (): number => [...audit.log.tunnels.values()][0]?.requestCount ?? 0;
        tls.resume();
        await waitFor(() => record() >= 5, "the 5 requests");
        tls.destroy();
        const report = await audit.finish();
        const text = JSON.stringify(report) + formatTable(report.verdicts);
        const found = [
          ...new Set([...text.matchAll(/SECRET-?[a-z]+-?[0-9a-z]{4}/g)].map((m) => m[0])),
        ].sort();
        if (showSecrets)
          assert.deepEqual(found, [
            "SECRET-jsession-9999",
            "SECRET-pathtoken-aaaa",
            "SECRET-query-0000",
            "SECRET-userinfo-cccc",
            "SECRETjwtpayload1234",
          ]);
        else {
          assert.deepEqual(found, [], "no credential survives masking");
          const lines = report.verdicts[0]!.evidence.requests!.map((r) => r.requestLine);
          assert.deepEqual(lines, [
            "GET /v1/me;jsessionid=<masked>?access_token=<masked>&x HTTP/1.1",
            "POST /login/<masked> HTTP/1.1",
            "GET https://<masked>@api.test/ HTTP/1.1",
            "GET /reset/<masked> HTTP/1.1",
            "GET /.well-known/openid-configuration HTTP/1.1",
          ]);
        }
      },
      { showSecrets },
    );
  }
  // Route segments stay readable; tokens in other shapes are masked.
  assert.equal(maskTarget("/api/v1/users/123/change-password"), "/api/v1/users/123/change-password");
  assert.equal(maskTarget("/x/550e8400-e29b-41d4-a716-446655440000"), "/x/<masked>");
  assert.equal(maskTarget("/a;b;c=d/e"), "/a;<masked>;c=<masked>/e");
  assert.equal(
    maskTarget("http://u@v@host.test/p?SECRETbareTOKEN12345"),
    "http://<masked>@host.test/p?<masked>",
  );
  assert.equal(maskTarget(`/t/${"f".repeat(64)}`), "/t/<masked>");
});

test("a request line of another shape (two spaces, a tab, four parts, no method) is masked after its method: no token survives", async () => {
  // Each in its own tunnel: a server may answer 400 and close, and the next line must still be read.
  const lines = [
    "GET  /login?token=SECRET-double-0001 HTTP/1.1",
    "GET\t/login?token=SECRET-tab-0002 HTTP/1.1",
    "GET /x HTTP/1.1 /login?token=SECRET-four-0003",
    "GET /login?token=SECRET-twoparts-0004",
    "/login?token=SECRET-nomethod-0005 HTTP/1.1",
    "GET /login?token=SECRET-usual-0006 HTTP/1.1",
  ];
  await withAudit(async (audit, ca) => {
    for (const line of lines) {
      const tls = await tlsThrough(audit.proxy.port, "api.test", "api.test", ca.certPem);
      tls.resume();
      tls.end(`${line}\r\nHost: api.test\r\n\r\n`);
      await once(tls, "close");
    }
    await audit.proxy.idle({ timeoutMs: 5000 });
    const report = await audit.finish();
    const text = JSON.stringify(report) + formatTable(report.verdicts);
    assert.deepEqual(
      [...text.matchAll(/SECRET-[a-z]+-\d{4}/g)].map((m) => m[0]),
      [],
      "no token survives",
    );
    const got = report.verdicts
      .find((v) => v.host === "api.test")!
      .evidence.requests!.map((r) => r.requestLine);
    assert.deepEqual(got.sort(), [
      "<masked, 42 chars>",
      "GET /login?token=<masked> HTTP/1.1",
      "GET /login?token=<masked> HTTP/1.1",
      "GET /login?token=<masked> HTTP/1.1",
      "GET <masked, 33 chars>",
      "GET <masked, 41 chars>",
    ]);
  });
});

test("pipelined requests: each counted, the evidence kept bounded per tunnel and per verdict", async () => {
  await withAudit(async (audit, ca) => {
    const n = 3000;
    const tls = await tlsThrough(audit.proxy.port, "api.test", "api.test", ca.certPem);
    tls.resume();
    tls.write("GET / HTTP/1.1\r\nHost: api.test\r\n\r\n".repeat(n));
    const record = (): number => [...audit.log.tunnels.values()][0]?.requestCount ?? 0;
    await waitFor(() => record() >= n, `${n} requests`);
    const open = [...audit.log.tunnels.values()][0]!;
    assert.equal(open.requestCount, n, "every request counted");
    assert.equal(open.requests.length, LIMITS.requestsPerTunnel, "evidence of the first ones only");
    tls.destroy();
    // A second tunnel of the same client and host: its requests add to the count, not to the evidence.
    const again = await tlsThrough(audit.proxy.port, "api.test", "api.test", ca.certPem);
    again.resume();
    again.end("GET /again HTTP/1.1\r\nHost: api.test\r\n\r\n");
    await once(again, "close");
    const report = await audit.finish();
    const v = report.verdicts.find((x) => x.host === "api.test")!;
    assert.equal(v.verdict, "intercepted");
    assert.equal(v.evidence.requestCount, n + 1);
    assert.equal(v.evidence.requests!.length, LIMITS.evidencePerVerdict);
    assert.equal(v.evidence.tunnelCount, 2);
  });
});

test("a request's evidence is bounded in size: a long request line of control bytes is cut (and says so), header names capped in number and length", async () => {
  // Short path segments of control bytes: kept by the masking (no token shape), each byte escaped to 4 characters.
  const target = `/${"\x01\x01\x01/".repeat(8_000)}`;
  const names = Array.from({ length: 100 }, (_, i) => `x-${"\x02".repeat(120)}-${i}`);
  const head = `GET ${target} HTTP/1.1\r\nHost: api.test\r\n${names.map((n) => `${n}: v\r\n`).join("")}\r\n`;
  assert.ok(head.length < 64 * 1024, "within the proxy's head limit");
  for (const showSecrets of [false, true]) {
    await withAudit(
      async (audit, ca) => {
        // One request per tunnel: a server answers 400 to control bytes and closes, and the tunnel with it.
        for (let i = 0; i < 4; i++) {
          const tls = await tlsThrough(audit.proxy.port, "api.test", "api.test", ca.certPem);
          tls.resume();
          tls.end(head);
          await once(tls, "close");
        }
        await audit.proxy.idle({ timeoutMs: 5000 });
        const report = await audit.finish();
        const v = report.verdicts.find((x) => x.host === "api.test")!;
        assert.equal(v.evidence.requestCount, 4);
        for (const r of v.evidence.requests!) {
          const [kept, cut] = r.requestLine.split("…");
          assert.ok(kept!.length <= LIMITS.requestLineChars, `${kept!.length} characters kept`);
          assert.equal(cut, `<cut, ${`GET ${target} HTTP/1.1`.length} chars>`);
          assert.equal(r.headerNames.length, LIMITS.headerNames);
          assert.equal(r.headerCount, names.length + 1);
          for (const name of r.headerNames) assert.ok(name.length <= LIMITS.headerNameChars + 1, name);
        }
        // Before: 4 requests made about 1.3 MiB of evidence (each control byte escaped to 4 characters).
        const size = JSON.stringify(report).length;
        assert.ok(size < 64 * 1024, `report of ${size} bytes`);
      },
      { showSecrets },
    );
  }
});

test("request evidence in all is bounded (LIMITS.evidenceBytes): past it requests are counted, not kept, and the report says how many", () => {
  const log = new AuditLog();
  const line = `GET /${"a/".repeat(400)} HTTP/1.1`;
  const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-${"h".repeat(70)}-${i}`, "v"]));
  let requests = 0;
  for (let t = 1; t <= 1500; t++) {
    log.record({
      kind: "connect",
      tunnel: t,
      host: `h${t}.test`,
      port: 443,
      client: { address: "10.0.0.9", port: t },
    });
    for (let i = 0; i < LIMITS.requestsPerTunnel; i++, requests++)
      log.record({ kind: "request", tunnel: t, message: { startLine: line, headers, body: "" } });
    log.record({ kind: "closed", tunnel: t, appBytes: 10, handshake: true });
  }
  const records = [...log.tunnels.values()];
  assert.equal(
    records.reduce((n, r) => n + r.requestCount, 0),
    requests,
    "every request counted",
  );
  const kept = records.reduce((n, r) => n + r.requests.length, 0);
  assert.ok(log.dropped.requestEvidence > 0, "some evidence was not kept");
  assert.equal(kept + log.dropped.requestEvidence, requests);
  const json = Buffer.byteLength(JSON.stringify(records.map((r) => r.requests)));
  assert.ok(json <= LIMITS.evidenceBytes, `${json} bytes of evidence`);
  assert.ok(json > LIMITS.evidenceBytes / 2, "the budget is used, not left idle");
});

test("many closed tunnels of one client and host are folded into counts, and tunnels past the record limit are counted, not kept", async () => {
  // A real ClientHello (Node's), so the tunnels are judged.
  const server = createServer((s) => s.once("data", (d) => s.destroy() && got(d)));
  let got: (d: Buffer) => void = () => {};
  const hello = new Promise<Buffer>((r) => (got = r));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  connectTls({
    host: "127.0.0.1",
    port: (server.address() as { port: number }).port,
    servername: "x.test",
  }).on("error", () => {});
  const record = await hello;
  server.close();
  const log = new AuditLog();
  let id = 0;
  const tunnel = (host: string, data: boolean): void => {
    id += 1;
    const events: InterceptEvent[] = [
      { kind: "connect", tunnel: id, host, port: 443, client: { address: "10.0.0.7", port: 1 } },
      { kind: "client-hello", tunnel: id, record },
      { kind: "closed", tunnel: id, appBytes: data ? 5 : 0, handshake: true },
    ];
    for (const e of events) log.record(e);
  };
  // Every hello says x.test, so every tunnel is one client and host.
  for (let i = 0; i < 500; i++) tunnel("x.test", i % 2 === 0);
  assert.ok(log.tunnels.size <= LIMITS.recordsPerGroup, `kept ${log.tunnels.size}`);
  const [v] = verdictsOf([...log.tunnels.values()], [], log.folded);
  assert.equal(v!.verdict, "intercepted");
  assert.equal(v!.evidence.tunnelCount, 500, "the count stays exact");
  assert.ok(v!.evidence.tunnels.length <= LIMITS.tunnelsPerVerdict);
  assert.equal(log.dropped.overLimit, 0);
  // Past LIMITS.records kept tunnels, a tunnel that would start a new client and host is counted, not kept.
  const many = new AuditLog();
  for (let i = 0; i <= LIMITS.records; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    many.record({ kind: "connect", tunnel: i + 1, host: "x.test", port: 443, client: { address, port: 1 } });
    many.record({ kind: "client-hello", tunnel: i + 1, record });
    many.record({ kind: "closed", tunnel: i + 1, appBytes: 0, handshake: false });
  }
  assert.equal(many.tunnels.size, LIMITS.records);
  assert.equal(many.dropped.overLimit, 1);
});

test("finish() reads real chains a few at a time and at most UPSTREAM_LOOKUPS.hosts of them: a peer's many names cannot make it dial them all at once", async () => {
  // The "real server" for every name: accepts, holds each connection a moment, then drops it (no handshake).
  let open = 0;
  let peak = 0;
  let accepted = 0;
  let counting = false;
  const hold = createServer((c) => {
    c.on("error", () => {});
    if (!counting) return void c.destroy();
    accepted += 1;
    open += 1;
    peak = Math.max(peak, open);
    c.once("close", () => (open -= 1));
    setTimeout(() => c.destroy(), 50);
  });
  hold.listen(0, "127.0.0.1");
  await once(hold, "listening");
  const holdPort = (hold.address() as { port: number }).port;
  await withAudit(
    async (audit) => {
      const names = UPSTREAM_LOOKUPS.hosts + 4;
      // A peer that trusts nothing (rejectUnauthorized: false) sends one byte per name: each is "intercepted".
      for (let i = 0; i < names; i += 25)
        await Promise.all(
          Array.from({ length: Math.min(25, names - i) }, async (_, k) => {
            const tls = await tlsThrough(audit.proxy.port, `h${i + k}.test`, `h${i + k}.test`, "any");
            tls.end("x");
            await once(tls, "close");
          }),
        );
      await audit.proxy.idle({ timeoutMs: 5000 });
      counting = true;
      const report = await audit.finish();
      assert.equal(report.interceptedDomains.length, names);
      assert.equal(report.upstreamPins.length, names, "every intercepted host listed");
      const skipped = report.upstreamPins.filter((u) => u.skipped);
      assert.equal(skipped.length, 4, "the rest listed as not looked up");
      assert.match(skipped[0]!.error!, /not looked up/);
      assert.equal(accepted, UPSTREAM_LOOKUPS.hosts, "one dial per host looked up, no more");
      assert.ok(
        peak <= UPSTREAM_LOOKUPS.concurrency,
        `at most ${UPSTREAM_LOOKUPS.concurrency} at once (${peak})`,
      );
      // The hosts seen first are the ones looked up.
      assert.ok(!report.upstreamPins.find((u) => u.host === "h0.test")!.skipped);
    },
    { upstreamPort: holdPort },
  );
  hold.close();
});

test("curl through the audit with a token in its path and userinfo in its URL: masked in the report", async () => {
  using tmp = makeTempDir("keypin-audit-curl-mask-");
  const genuine = await createChain("p256", ["localhost"], "genuine");
  const server = await startHttpsServer({ key: genuine.leaf.keyPem, cert: genuine.served });
  const ca = await loadOrCreateAuditCa({ dir: join(tmp.dir, "ca") });
  const trusts = join(tmp.dir, "trusts.pem");
  writeFileSync(trusts, genuine.root.pem + ca.certPem);
  const audit = await startAudit({
    ca,
    upstreamCa: [genuine.root.pem],
    upstreamAddress: () => ({ host: "127.0.0.1", port: server.port }),
  });
  try {
    const r = await curl([
      "--proxy",
      audit.proxy.url,
      "--cacert",
      trusts,
      `https://localhost:${server.port}/files;jsessionid=CURLSECRETsession42/dl/Zm9vYmFyCURLSECRETtoken99`,
    ]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    const report = await audit.finish();
    await server.close();
    const line = report.verdicts[0]?.evidence.requests?.[0]?.requestLine;
    assert.equal(line, "GET /files;jsessionid=<masked>/dl/<masked> HTTP/1.1");
    assert.ok(!JSON.stringify(report).includes("CURLSECRET"));
  }
});
