// What a peer can make the proxy hold, and for how long (review 2026-12-02, findings 1, 3 and 4): the HTTP reader's
// memory for one huge message, the forged-leaf cache, tunnels that go quiet, a real server that never answers or
// never completes TLS, how many tunnels and connections at once, and a client trickling its CONNECT's head. Each
// attack runs next to its control, on real sockets on 127.0.0.1; the only waits are "it ends".
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { connect as connectTcp, createServer as createTcpServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { connect as connectTls, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { type InterceptEvent, InterceptingProxy, type InterceptingProxyOptions } from "@keypin/proxy";
import { createChain, issue, issueLeaf, type TestCert, type TestChain } from "@keypin/testkit";

const HOST = "api.limits.test";
const MiB = 1024 * 1024;

let genuine: TestChain;
let attackerCa: TestCert;

/**
 * The real server: it hashes every byte it receives until the client ends its side (or, with `silent`, never
 * answers), then answers with no length (the body runs to the end of the connection): `<sha256> <bytes>\n`
 * followed by as many bytes of a fixed pattern as the number in the request's path (`GET /download/1024`).
 */
async function startUpstream(options: { silent?: boolean } = {}) {
  const server = createTlsServer(
    { key: genuine.leaf.keyPem, cert: genuine.served, allowHalfOpen: true },
    (socket) => {
      socket.on("error", () => {});
      if (options.silent) return socket.resume();
      const hash = createHash("sha256");
      let received = 0;
      let first = "";
      socket.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
        if (first.length < 256) first += chunk.subarray(0, 256).toString("latin1");
      });
      socket.on("end", async () => {
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n${hash.digest("hex")} ${received}\n`,
        );
        const tail = Number(/\/download\/(\d+)/.exec(first)?.[1] ?? 0);
        const bytes = pattern(tail);
        for (let sent = 0; sent < tail; sent += 64 * 1024) {
          if (!socket.write(bytes.subarray(sent, sent + 64 * 1024))) await once(socket, "drain");
        }
        socket.end();
      });
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as { port: number }).port };
}

/** A fixed, non-repeating-looking pattern of `n` bytes. */
function pattern(n: number): Buffer {
  const bytes = Buffer.alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff;
  return bytes;
}

async function startProxy(upstreamPort: number, options: Partial<InterceptingProxyOptions> = {}) {
  const events: InterceptEvent[] = [];
  const forgeCalls: string[] = [];
  const proxy = await InterceptingProxy.start({
    forge: async (host) => {
      forgeCalls.push(host);
      const leaf = await issueLeaf("p256", [host], attackerCa);
      return { key: leaf.keyPem, cert: leaf.pem };
    },
    upstream: { ca: genuine.root.pem, address: () => ({ host: "127.0.0.1", port: upstreamPort }) },
    onEvent: (event) => events.push(event),
    ...options,
  });
  const of = <K extends InterceptEvent["kind"]>(kind: K) =>
    events.filter((event): event is Extract<InterceptEvent, { kind: K }> => event.kind === kind);
  return { proxy, events, forgeCalls, of };
}

/** A raw connection to the proxy, with its CONNECT sent; resolves with the socket and the answer's status line. */
async function openTunnel(port: number, host = HOST, localAddress?: string) {
  const socket = connectTcp({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
  socket.on("error", () => {});
  await once(socket, "connect");
  socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
  const answer = await new Promise<string>((resolve) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        socket.off("data", onData);
        resolve(text.split("\r\n")[0]!);
      }
    };
    socket.on("data", onData);
    socket.once("close", () => resolve(text.split("\r\n")[0] ?? ""));
  });
  return { socket, answer };
}

/** TLS through a tunnel, trusting the attacker's CA (a device that installed it). */
async function tlsThrough(port: number, host = HOST): Promise<TLSSocket> {
  const { socket, answer } = await openTunnel(port, host);
  assert.match(answer, /^HTTP\/1\.1 200/);
  const tls = connectTls({ socket, servername: host, ca: [attackerCa.pem] });
  tls.on("error", () => {});
  await once(tls, "secureConnect");
  return tls;
}

/** Writes `payload` in 64 KiB pieces (with backpressure), ends, and resolves with all the tunnel sent back. */
async function exchange(tls: TLSSocket, payload: Buffer): Promise<Buffer> {
  const back: Buffer[] = [];
  tls.on("data", (chunk: Buffer) => back.push(chunk));
  const closed = once(tls, "close");
  for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
    if (!tls.write(payload.subarray(offset, offset + 64 * 1024))) await once(tls, "drain");
  }
  tls.end();
  await closed;
  return Buffer.concat(back);
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const ends = (socket: Socket) =>
  socket.destroyed ? Promise.resolve() : once(socket, "close").then(() => {});

before(async () => {
  genuine = await createChain("p256", [HOST, "a.limits.test", "b.limits.test", "c.limits.test"], "limits");
  attackerCa = await issue("p256", { subject: "CN=Limits Test Interceptor CA", ca: true });
});

describe("InterceptingProxy limits", () => {
  let upstream: { server: Server; port: number };
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.server.close());

  test("relays a 24 MiB upload and a 16 MiB download without length intact, and keeps only the first 64 KiB of each body (a small message: all of it)", async () => {
    const { proxy, of } = await startProxy(upstream.port);
    try {
      // The control: a small request and answer are kept whole.
      const small = Buffer.from(
        `POST /download/1000 HTTP/1.1\r\nHost: ${HOST}\r\ncontent-length: 5\r\n\r\nhello`,
      );
      const smallBack = await exchange(await tlsThrough(proxy.port), small);
      assert.ok(
        smallBack.toString("latin1").includes(`${sha256(small)} ${small.length}\n`),
        "relayed intact",
      );
      await proxy.idle();
      const [smallRequest] = of("request");
      assert.equal(smallRequest?.message.body, "hello");
      assert.equal(smallRequest?.message.truncated, false);
      const smallBody = `${sha256(small)} ${small.length}\n${pattern(1000).toString("utf8")}`;
      assert.equal(of("response")[0]?.message.body, smallBody);
      assert.equal(of("response")[0]?.message.truncated, false);

      // The attack: one 24 MiB request body, one 16 MiB response that runs to the end of the connection.
      const bodyLength = 24 * MiB;
      const head = `POST /download/${16 * MiB} HTTP/1.1\r\nHost: ${HOST}\r\ncontent-length: ${bodyLength}\r\n\r\n`;
      const big = Buffer.concat([Buffer.from(head), pattern(bodyLength)]);
      const back = await exchange(await tlsThrough(proxy.port), big);
      const httpHead = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n";
      const bodyLine = `${sha256(big)} ${big.length}\n`;
      const answerHead = httpHead + bodyLine;
      assert.equal(
        back.subarray(0, answerHead.length).toString("latin1"),
        answerHead,
        "the upload arrived intact",
      );
      assert.equal(back.length - answerHead.length, 16 * MiB, "the whole download");
      assert.equal(
        sha256(back.subarray(answerHead.length)),
        sha256(pattern(16 * MiB)),
        "the download arrived intact",
      );
      await proxy.idle();
      const request = of("request")[1]?.message;
      assert.equal(request?.startLine, `POST /download/${16 * MiB} HTTP/1.1`);
      assert.equal(request?.bodyLength, bodyLength);
      assert.equal(request?.truncated, true);
      assert.equal(request?.body, pattern(64 * 1024).toString("utf8"), "the first 64 KiB, and no more");
      const response = of("response")[1]?.message;
      assert.equal(response?.bodyLength, bodyLine.length + 16 * MiB);
      assert.equal(response?.truncated, true);
      const first = Buffer.concat([Buffer.from(bodyLine), pattern(64 * 1024)]).subarray(0, 64 * 1024);
      assert.equal(response?.body, first.toString("utf8"), "the first 64 KiB, and no more");
      assert.equal(proxy.appBytes, small.length + big.length);
    } finally {
      await proxy.close();
    }
  });

  test("a client that stops reading stops the real server's download at the proxy (backpressure), and gets every byte once it reads", async () => {
    const total = 64 * MiB;
    const bytes = pattern(total);
    let sent = 0;
    const server = createTlsServer({ key: genuine.leaf.keyPem, cert: genuine.served }, (socket) => {
      socket.on("error", () => {});
      socket.once("data", async () => {
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
        for (; sent < total; sent += 64 * 1024) {
          if (!socket.write(bytes.subarray(sent, sent + 64 * 1024))) await once(socket, "drain");
        }
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { proxy, of } = await startProxy((server.address() as { port: number }).port);
    try {
      const tls = await tlsThrough(proxy.port);
      tls.pause();
      tls.write(`GET /big HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      // The client reads nothing for a second: without backpressure the proxy would take all 64 MiB meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(sent < total / 2, `the real server got ${sent} bytes out, not ${total}`);
      const back: Buffer[] = [];
      let length = 0;
      const head = `HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`;
      await new Promise<void>((resolve) => {
        tls.on("data", (chunk: Buffer) => {
          back.push(chunk);
          length += chunk.length;
          if (length >= head.length + total) resolve();
        });
        tls.resume();
      });
      const all = Buffer.concat(back);
      assert.equal(all.subarray(0, head.length).toString("latin1"), head);
      assert.equal(sha256(all.subarray(head.length)), sha256(bytes), "every byte, in order");
      tls.destroy();
      await proxy.idle();
      assert.equal(of("response")[0]?.message.bodyLength, total);
    } finally {
      await proxy.close();
      server.close();
    }
  });

  test("a head that never ends within 64 KiB stops the reading of that direction, and its bytes are still relayed intact", async () => {
    const { proxy, of } = await startProxy(upstream.port);
    try {
      // The control: an ordinary head is read.
      const plain = Buffer.from(`GET /a HTTP/1.1\r\nHost: ${HOST}\r\nX-Long: ${"a".repeat(1000)}\r\n\r\n`);
      assert.ok(
        (await exchange(await tlsThrough(proxy.port), plain)).includes(`${sha256(plain)} ${plain.length}`),
      );
      await proxy.idle();
      assert.deepEqual(
        of("request").map((e) => e.message.startLine),
        ["GET /a HTTP/1.1"],
      );
      // The attack: 4 MiB of one header, then a second request on the same tunnel.
      const long = Buffer.concat([
        Buffer.from(`GET /b HTTP/1.1\r\nHost: ${HOST}\r\nX-Long: `),
        Buffer.alloc(4 * MiB, 0x61),
        Buffer.from(`\r\n\r\nGET /c HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`),
      ]);
      const back = await exchange(await tlsThrough(proxy.port), long);
      assert.ok(back.includes(`${sha256(long)} ${long.length}`), "relayed intact");
      await proxy.idle();
      assert.deepEqual(
        of("request").map((e) => e.message.startLine),
        ["GET /a HTTP/1.1"],
        "nothing more read on that tunnel",
      );
      assert.equal(of("response").length, 2, "the other direction is still read");
      assert.deepEqual(
        of("closed").map((e) => e.appBytes),
        [plain.length, long.length],
      );
    } finally {
      await proxy.close();
    }
  });

  test("forged leaves are cached for the forgeCacheSize hosts used last; an evicted host is forged again", async () => {
    const sequence = ["a", "b", "a", "c", "a", "b"].map((x) => `${x}.limits.test`);
    const run = async (options: Partial<InterceptingProxyOptions>) => {
      const { proxy, forgeCalls, of } = await startProxy(upstream.port, options);
      try {
        for (const host of sequence) {
          const { socket, answer } = await openTunnel(proxy.port, host);
          assert.match(answer, /^HTTP\/1\.1 200/);
          socket.destroy();
          await proxy.idle();
        }
        return { forgeCalls, cached: of("forge").map((e) => e.cached) };
      } finally {
        await proxy.close();
      }
    };
    // The control: the default cache (256 hosts) forges each host once.
    assert.deepEqual(
      (await run({})).forgeCalls,
      ["a", "b", "c"].map((x) => `${x}.limits.test`),
    );
    // Two hosts: c evicts b (a was used since), so b is forged again; a stays.
    const small = await run({ forgeCacheSize: 2 });
    assert.deepEqual(
      small.forgeCalls,
      ["a", "b", "c", "b"].map((x) => `${x}.limits.test`),
    );
    assert.deepEqual(small.cached, [false, false, true, false, true, false]);
  });
});

describe("InterceptingProxy timeouts and caps", () => {
  test("drops a handshaken tunnel idle in both directions for idleTimeoutMs (a quiet client, a real server that never answers); the default keeps it", async () => {
    const silent = await startUpstream({ silent: true });
    const short = await startProxy(silent.port, { idleTimeoutMs: 200 });
    const control = await startProxy(silent.port);
    try {
      const quiet = await tlsThrough(short.proxy.port);
      const waiting = await tlsThrough(short.proxy.port);
      waiting.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      const controlQuiet = await tlsThrough(control.proxy.port);
      const controlWaiting = await tlsThrough(control.proxy.port);
      controlWaiting.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      await Promise.all([ends(quiet), ends(waiting)]);
      await short.proxy.idle();
      assert.deepEqual(
        short.of("closed").map((e) => [e.handshake, e.timeout]),
        [
          [true, "idle"],
          [true, "idle"],
        ],
      );
      assert.equal(short.of("relay").length, 1, "the waiting one had reached the real server");
      assert.equal(
        controlQuiet.destroyed || controlWaiting.destroyed,
        false,
        "the default (2 minutes) keeps both",
      );
      assert.deepEqual(control.of("closed"), []);
    } finally {
      await short.proxy.close();
      await control.proxy.close();
      silent.server.close();
    }
  });

  test("does not cut a tunnel that keeps moving for longer than idleTimeoutMs, headersTimeoutMs and requestTimeoutMs", async () => {
    const upstream = await startUpstream();
    const { proxy, of } = await startProxy(upstream.port, {
      idleTimeoutMs: 1000,
      headersTimeoutMs: 200,
      requestTimeoutMs: 200,
    });
    try {
      const tls = await tlsThrough(proxy.port);
      const back: Buffer[] = [];
      tls.on("data", (chunk: Buffer) => back.push(chunk));
      const head = Buffer.from(`POST / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      const sent: Buffer[] = [head];
      tls.write(head);
      // 3 s of a byte every 100 ms: ten times within every idle period.
      for (let i = 0; i < 30; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(tls.destroyed, false, `still open after ${i} bytes`);
        const byte = Buffer.from([0x30 + (i % 10)]);
        sent.push(byte);
        tls.write(byte);
      }
      const closed = once(tls, "close");
      tls.end();
      await closed;
      const all = Buffer.concat(sent);
      assert.ok(Buffer.concat(back).includes(`${sha256(all)} ${all.length}`), "every byte relayed");
      await proxy.idle();
      assert.equal(of("closed")[0]?.timeout, undefined);
    } finally {
      await proxy.close();
      upstream.server.close();
    }
  });

  test("fails a tunnel whose real server never completes TCP and TLS within upstreamConnectTimeoutMs (ETIMEDOUT); the default waits longer", async () => {
    // A real server that accepts the TCP connection and never says a word of TLS.
    const mute = createTcpServer((socket) => {
      socket.on("error", () => {});
      socket.resume();
    });
    mute.listen(0, "127.0.0.1");
    await once(mute, "listening");
    const mutePort = (mute.address() as { port: number }).port;
    const short = await startProxy(mutePort, { upstreamConnectTimeoutMs: 200 });
    const control = await startProxy(mutePort);
    try {
      const tls = await tlsThrough(short.proxy.port);
      tls.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      const controlTls = await tlsThrough(control.proxy.port);
      controlTls.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      await ends(tls);
      await short.proxy.idle();
      assert.deepEqual(
        short.of("failure").map((e) => [e.stage, e.reason]),
        [["upstream", "ETIMEDOUT"]],
      );
      assert.match(
        String((short.of("failure")[0]?.cause as Error | undefined)?.message),
        /did not complete TCP and TLS within 200 ms/,
      );
      assert.equal(controlTls.destroyed, false);
      assert.deepEqual(control.of("failure"), []);
    } finally {
      await short.proxy.close();
      await control.proxy.close();
      mute.close();
    }
  });

  test("answers 503 to a CONNECT beyond maxTunnels open tunnels, and serves again once one closes; the default takes them all", async () => {
    const upstream = await startUpstream();
    const capped = await startProxy(upstream.port, { maxTunnels: 5 });
    const control = await startProxy(upstream.port);
    try {
      const controlTunnels = await Promise.all(
        Array.from({ length: 6 }, () => openTunnel(control.proxy.port)),
      );
      assert.deepEqual(
        controlTunnels.map((t) => t.answer),
        Array(6).fill("HTTP/1.1 200 Connection Established"),
      );
      const open = [];
      for (let i = 0; i < 5; i++) open.push(await openTunnel(capped.proxy.port));
      assert.deepEqual(
        open.map((t) => t.answer),
        Array(5).fill("HTTP/1.1 200 Connection Established"),
      );
      const refused = await openTunnel(capped.proxy.port);
      assert.equal(refused.answer, "HTTP/1.1 503 Service Unavailable");
      await ends(refused.socket);
      assert.equal(capped.proxy.refusedTunnels, 1);
      assert.equal(capped.of("connect").length, 5, "no event for the refused CONNECT");
      open[0]!.socket.destroy();
      await new Promise<void>((resolve) => {
        const check = () => (capped.of("closed").length === 1 ? resolve() : setTimeout(check, 10));
        check();
      });
      const again = await openTunnel(capped.proxy.port);
      assert.equal(again.answer, "HTTP/1.1 200 Connection Established");
      for (const t of [...open, again, ...controlTunnels]) t.socket.destroy();
    } finally {
      await capped.proxy.close();
      await control.proxy.close();
      upstream.server.close();
    }
  });

  test("answers 503 to a client address beyond maxTunnelsPerClient while another address still gets its tunnels", async () => {
    const upstream = await startUpstream();
    const { proxy, of } = await startProxy(upstream.port, { maxTunnels: 10, maxTunnelsPerClient: 2 });
    try {
      const mine = [await openTunnel(proxy.port), await openTunnel(proxy.port)];
      assert.deepEqual(
        mine.map((t) => t.answer),
        Array(2).fill("HTTP/1.1 200 Connection Established"),
      );
      const third = await openTunnel(proxy.port);
      assert.equal(third.answer, "HTTP/1.1 503 Service Unavailable");
      // Another device (another loopback address) is not locked out.
      const other = await openTunnel(proxy.port, HOST, "127.0.0.2");
      assert.equal(other.answer, "HTTP/1.1 200 Connection Established");
      assert.deepEqual(
        of("connect").map((e) => e.client.address),
        ["127.0.0.1", "127.0.0.1", "127.0.0.2"],
      );
      assert.equal(proxy.refusedTunnels, 1);
      for (const t of [...mine, third, other]) t.socket.destroy();
    } finally {
      await proxy.close();
      upstream.server.close();
    }
  });

  test("closes a client connection beyond maxConnections as soon as it is accepted", async () => {
    const upstream = await startUpstream();
    const { proxy } = await startProxy(upstream.port, { maxConnections: 3 });
    try {
      const held: Socket[] = [];
      for (let i = 0; i < 3; i++) {
        const socket = connectTcp({ host: "127.0.0.1", port: proxy.port });
        socket.on("error", () => {});
        await once(socket, "connect");
        held.push(socket);
      }
      // The control: the first three are answered.
      const first = held[0]!;
      first.write("GET http://x.test/ HTTP/1.1\r\nHost: x.test\r\n\r\n");
      const [answer] = (await once(first, "data")) as [Buffer];
      assert.match(answer.toString("latin1"), /^HTTP\/1\.1 405/);
      const fourth = connectTcp({ host: "127.0.0.1", port: proxy.port });
      fourth.on("error", () => {});
      let got = "";
      fourth.on("data", (chunk: Buffer) => {
        got += chunk.toString("latin1");
      });
      fourth.write("GET http://x.test/ HTTP/1.1\r\nHost: x.test\r\n\r\n");
      await ends(fourth);
      assert.equal(got, "", "closed without an answer");
      for (const socket of held) socket.destroy();
    } finally {
      await proxy.close();
      upstream.server.close();
    }
  });

  test("closes a client trickling the head of its request past headersTimeoutMs with 408; a prompt one is answered", async () => {
    const upstream = await startUpstream();
    const { proxy } = await startProxy(upstream.port, { headersTimeoutMs: 200 });
    try {
      const prompt = connectTcp({ host: "127.0.0.1", port: proxy.port });
      prompt.on("error", () => {});
      prompt.write("GET http://x.test/ HTTP/1.1\r\nHost: x.test\r\n\r\n");
      const [answer] = (await once(prompt, "data")) as [Buffer];
      assert.match(answer.toString("latin1"), /^HTTP\/1\.1 405/);
      prompt.destroy();

      const slow = connectTcp({ host: "127.0.0.1", port: proxy.port });
      slow.on("error", () => {});
      let got = "";
      slow.on("data", (chunk: Buffer) => {
        got += chunk.toString("latin1");
      });
      slow.write(`CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n`);
      const trickle = setInterval(() => {
        if (!slow.destroyed) slow.write("X");
      }, 50);
      await ends(slow);
      clearInterval(trickle);
      assert.match(got, /^HTTP\/1\.1 408/);
    } finally {
      await proxy.close();
      upstream.server.close();
    }
  });
});
