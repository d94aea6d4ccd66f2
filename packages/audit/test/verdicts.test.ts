// The verdict engine on recorded proxy events (pure data), and the ClientHello parser on real hellos (curl's and
// Node's, captured through the proxy) and on inputs that are not hellos.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { connect as connectTls } from "node:tls";
import {
  AuditLog,
  canonicalHost,
  expectationOf,
  fingerprintOf,
  isSecretHeader,
  maskTarget,
  parseClientHello,
  type TunnelRecord,
  verdictsOf,
} from "@keypin/audit";
import type { InterceptEvent } from "@keypin/proxy";

/** The first TLS record a real client sends to a TCP server that answers nothing. */
async function captureHello(client: (port: number) => void): Promise<Buffer> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const got = new Promise<Buffer>((resolve) => {
    server.on("connection", (socket: Socket) => {
      let buffered = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt16BE(3)) {
          resolve(buffered.subarray(0, 5 + buffered.readUInt16BE(3)));
          socket.destroy();
        }
      });
    });
  });
  client(port);
  const hello = await got;
  server.close();
  return hello;
}

const nodeHello = (servername: string | undefined, maxVersion: "TLSv1.2" | "TLSv1.3") => (port: number) => {
  const s = connectTls({
    host: "127.0.0.1",
    port,
    ...(servername ? { servername } : {}),
    maxVersion,
    ALPNProtocols: ["http/1.1"],
  });
  s.on("error", () => {});
};

test("ClientHello: SNI, versions and ALPN read from real hellos; one fingerprint per stack, whatever the host", async () => {
  const a = parseClientHello(await captureHello(nodeHello("a.example.test", "TLSv1.3")));
  const b = parseClientHello(await captureHello(nodeHello("longer-name.b.example.test", "TLSv1.3")));
  const ip = parseClientHello(await captureHello(nodeHello(undefined, "TLSv1.3")));
  const tls12 = parseClientHello(await captureHello(nodeHello("a.example.test", "TLSv1.2")));
  const curlHello = parseClientHello(
    await captureHello((port) => {
      const child = spawn("curl", [
        "--silent",
        "--max-time",
        "3",
        "--resolve",
        `c.example.test:${port}:127.0.0.1`,
        `https://c.example.test:${port}/`,
      ]);
      child.on("error", () => {});
    }),
  );
  assert.ok(a && b && ip && tls12 && curlHello);
  assert.equal(a.servername, "a.example.test");
  assert.equal(ip.servername, undefined);
  assert.equal(curlHello.servername, "c.example.test");
  assert.ok(a.supportedVersions.includes(0x0304));
  assert.ok(!tls12.supportedVersions.includes(0x0304));
  assert.deepEqual(a.alpn, ["http/1.1"]);
  assert.equal(fingerprintOf(a), fingerprintOf(b), "the host name does not change the fingerprint");
  assert.equal(fingerprintOf(a), fingerprintOf(ip), "nor does leaving SNI out (an IP host)");
  assert.notEqual(fingerprintOf(a), fingerprintOf(tls12), "another TLS configuration is another client");
  assert.notEqual(fingerprintOf(a), fingerprintOf(curlHello), "curl is not Node");
  // GREASE values (Chrome, OkHttp on Conscrypt) are left out; extension order (Chrome shuffles it) does not count.
  const greased = {
    ...a,
    ciphers: [0x1a1a, ...a.ciphers],
    extensions: [0xfafa, ...[...a.extensions].reverse()],
  };
  assert.equal(fingerprintOf(greased), fingerprintOf(a));
  // Not hellos: plain HTTP, a truncated record, an empty one.
  assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n\r\n")), undefined);
  const whole = await captureHello(nodeHello("a.example.test", "TLSv1.3"));
  assert.equal(parseClientHello(whole.subarray(0, 60)), undefined);
  assert.equal(parseClientHello(Buffer.alloc(0)), undefined);
});

/** Events of one tunnel, as the proxy emits them. */
function tunnel(
  id: number,
  host: string,
  outcome: "data" | "post-handshake" | "unknown-ca" | "reset",
): InterceptEvent[] {
  const events: InterceptEvent[] = [
    { kind: "connect", tunnel: id, host, port: 443, client: { address: "10.0.0.7", port: 5000 + id } },
  ];
  if (outcome === "data" || outcome === "post-handshake")
    events.push({ kind: "handshake", tunnel: id, protocol: "TLSv1.3", servername: host });
  if (outcome === "data")
    events.push({
      kind: "request",
      tunnel: id,
      message: {
        startLine: "POST /login?token=t0ps3cret HTTP/1.1",
        headers: { host, cookie: "sid=c00kie", "x-api-key": "k3y" },
        body: "",
      },
    });
  if (outcome === "unknown-ca")
    events.push({
      kind: "failure",
      tunnel: id,
      stage: "client-handshake",
      reason: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
      cause: undefined,
    });
  events.push({
    kind: "closed",
    tunnel: id,
    appBytes: outcome === "data" ? 90 : 0,
    handshake: outcome === "data" || outcome === "post-handshake",
  });
  return events;
}

test("verdicts: the control rule, unknown_ca, not-seen, masking, and the expectation", async () => {
  const record = await captureHello(nodeHello("x.test", "TLSv1.3"));
  const other = await captureHello(nodeHello("x.test", "TLSv1.2"));
  const log = new AuditLog();
  const feed = (events: InterceptEvent[], hello: Buffer): void => {
    for (const e of events) {
      log.record(e);
      if (e.kind === "connect") log.record({ kind: "client-hello", tunnel: e.tunnel, record: hello });
    }
  };
  feed(tunnel(1, "open.test", "data"), record); // the control
  feed(tunnel(2, "pinned.test", "post-handshake"), record);
  feed(tunnel(3, "reset.test", "reset"), record);
  feed(tunnel(4, "distrust.test", "unknown-ca"), record);
  feed(tunnel(5, "other-stack.test", "reset"), other); // another TLS stack on the same address: no control
  // Every captured hello says SNI x.test: judge each tunnel by the host it was opened for.
  const records = [...log.tunnels.values()].map((r, i) => ({
    ...r,
    host: ["open.test", "pinned.test", "reset.test", "distrust.test", "other-stack.test"][i]!,
  }));
  const judged = verdictsOf(records, ["pinned.test", "never.test"]);
  const v = (host: string) => judged.find((x) => x.host === host)!;
  assert.equal(v("open.test").verdict, "intercepted");
  const request = v("open.test").evidence.requests![0]!;
  assert.equal(request.requestLine, "POST /login?token=<masked> HTTP/1.1");
  assert.deepEqual(request.headerNames, ["host", "cookie", "x-api-key"]);
  assert.deepEqual(request.secrets, { cookie: "<masked, 10 chars>", "x-api-key": "<masked, 3 chars>" });
  assert.equal(v("pinned.test").verdict, "pinned");
  assert.equal(v("pinned.test").evidence.control?.host, "open.test");
  assert.equal(v("reset.test").verdict, "pinned");
  assert.equal(v("reset.test").evidence.inferred, true);
  assert.equal(v("distrust.test").verdict, "ca-not-trusted", "unknown_ca wins over the control");
  assert.equal(v("other-stack.test").verdict, "undetermined");
  assert.equal(v("never.test").verdict, "not-seen");
  assert.deepEqual(expectationOf(judged, ["pinned.test", "never.test", "open.test"]).failing, [
    { host: "never.test", verdict: "not-seen" },
    { host: "open.test", verdict: "intercepted" },
  ]);
  assert.equal(expectationOf(judged, ["pinned.test"]).ok, true);
  assert.ok(!JSON.stringify(judged).includes("c00kie") && !JSON.stringify(judged).includes("t0ps3cret"));
  // --show-secrets shows them.
  const shown = new AuditLog({ showSecrets: true });
  let shownRecord: TunnelRecord | undefined;
  for (const e of tunnel(9, "open.test", "data")) shownRecord = shown.record(e) ?? shownRecord;
  assert.equal(shownRecord!.requests[0]!.secrets.cookie, "sid=c00kie");
});

test("a tunnel with application data but no readable ClientHello is intercepted, says so, and is no control", async () => {
  const hello = await captureHello(nodeHello("x.test", "TLSv1.3"));
  const log = new AuditLog();
  const feed = (events: InterceptEvent[], record?: Buffer): void => {
    for (const e of events) {
      log.record(e);
      if (e.kind === "connect" && record) log.record({ kind: "client-hello", tunnel: e.tunnel, record });
    }
  };
  feed(tunnel(1, "open.test", "data"), hello.subarray(0, 60)); // a truncated hello: no fingerprint
  feed(tunnel(2, "quiet.test", "post-handshake"), Buffer.from("not tls at all")); // no hello and no data
  feed(tunnel(3, "pinned.test", "post-handshake"), hello); // the same address: no control without a fingerprint
  assert.equal(log.dropped.unjudged, 1, "only the tunnel with neither a hello nor data gives no verdict");
  const judged = verdictsOf(
    [...log.tunnels.values()].map((r) => ({ ...r, host: r.host })),
    ["open.test"],
  );
  const open = judged.find((v) => v.host === "open.test");
  assert.equal(open?.verdict, "intercepted");
  assert.equal(open?.client.fingerprint, "");
  assert.equal(open?.evidence.clientHello, "unparsed");
  assert.match(open?.explanation ?? "", /ClientHello could not be read/);
  assert.equal(open?.evidence.requestCount, 1);
  assert.equal(
    judged.find((v) => v.host === "quiet.test"),
    undefined,
  );
  // pinned.test's hello says SNI x.test: its record's host is x.test.
  assert.equal(judged.find((v) => v.host === "x.test")?.verdict, "undetermined");
  assert.deepEqual(expectationOf(judged, ["open.test"]).failing, [
    { host: "open.test", verdict: "intercepted" },
  ]);
  // The control: the same tunnel with its whole hello has a fingerprint, and no clientHello note.
  const whole = new AuditLog();
  for (const e of tunnel(1, "open.test", "data")) {
    whole.record(e);
    if (e.kind === "connect") whole.record({ kind: "client-hello", tunnel: 1, record: hello });
  }
  const [v] = verdictsOf([...whole.tunnels.values()]);
  assert.equal(v?.verdict, "intercepted");
  assert.notEqual(v?.client.fingerprint, "");
  assert.equal(v?.evidence.clientHello, undefined);
});

test("a ClientHello fragmented across TLS records parses as the same hello in one record", async () => {
  const one = await captureHello(nodeHello("split.test", "TLSv1.3"));
  const body = one.subarray(5);
  const record = (b: Buffer) =>
    Buffer.concat([one.subarray(0, 3), Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const whole = parseClientHello(one);
  assert.equal(whole?.servername, "split.test");
  // Cut inside the handshake header (2), inside the hello (40), near its end, and into one-byte records.
  for (const cuts of [
    [2],
    [40],
    [body.length - 1],
    Array.from({ length: body.length - 1 }, (_, i) => i + 1),
  ]) {
    const edges = [0, ...cuts, body.length];
    const records = Buffer.concat(edges.slice(1).map((end, i) => record(body.subarray(edges[i], end))));
    assert.deepEqual(parseClientHello(records), whole, `cut at ${cuts.slice(0, 3).join(",")}`);
  }
  // Records that end before the message does are no hello; nor is a record of another type in the middle.
  assert.equal(parseClientHello(record(body.subarray(0, 40))), undefined);
  const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
  assert.equal(
    parseClientHello(Buffer.concat([record(body.subarray(0, 40)), alert, record(body.subarray(40))])),
    undefined,
  );
});

test("masking: secret header names, query values", () => {
  for (const name of [
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "Set-Cookie",
    "X-Api-Key",
    "X-Auth-Token",
    "X-Session-Id",
    "x-client-secret",
  ])
    assert.equal(isSecretHeader(name), true, name);
  for (const name of ["Host", "Accept", "Content-Type", "User-Agent"])
    assert.equal(isSecretHeader(name), false, name);
  assert.equal(maskTarget("/a?x=1&y&z=%20"), "/a?x=<masked>&y&z=<masked>");
  assert.equal(maskTarget("/plain"), "/plain");
});

test("canonicalHost never throws on what a peer can send (a CONNECT host, an SNI name), IPv6 zones included", () => {
  // Node's isIP says "::1%1" is IPv6 and the URL parser refuses it: such a text is kept as it is.
  assert.equal(canonicalHost("[0:0::1]"), "::1");
  assert.equal(canonicalHost("API.Example.TEST"), "api.example.test");
  for (const odd of [
    "::1%1",
    "[fe80::1%eth0]",
    "fe80::1%25",
    "%",
    "[",
    "]",
    "[]",
    "::",
    "1.2.3.4%1",
    "\u0000",
    "a".repeat(5000),
  ]) {
    assert.equal(typeof canonicalHost(odd), "string", odd);
  }
  assert.equal(canonicalHost("[::1%1]"), "::1%1");
});
