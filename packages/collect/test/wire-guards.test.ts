// The collector against web pages (review 7): on loopback with no token (the default) a page whose DNS name
// is rebound to 127.0.0.1 must not read the reports (Host check, 403 ERR_COLLECT_HOST), and any page the
// operator visits must not inject reports (a cross-site POST is text/plain or carries a foreign Origin: 415
// ERR_COLLECT_CONTENT_TYPE / 403 ERR_COLLECT_ORIGIN), while what report senders send (application/json, no
// Origin: TrustKit, @keypin/node) is stored. Oracles: curl --resolve (a real rebinding of a name to 127.0.0.1),
// raw sockets for the Host forms curl would not send, and Debian's Chromium for what a browser really sends.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Collector, openSqliteStore, type ReportStore, startCollector } from "@keypin/collect";
import {
  chromiumLaunchOptions,
  createChain,
  makeTempDir,
  skipWithoutChromium,
  type TestChain,
  unrelatedPin,
} from "@keypin/testkit";
import { chromium } from "playwright-core";
import { post, trustKitAndroidReport } from "./helpers.js";

const run = promisify(execFile);
const temp = makeTempDir("keypin-wire-guards-");
let store: ReportStore;
let collector: Collector;
let port: number;
let chain: TestChain;

before(async () => {
  store = await openSqliteStore(join(temp.dir, "r.db"));
  chain = await createChain("p256", ["seeded.keypin.test"], "wire");
  collector = await startCollector({ store });
  port = Number(new URL(collector.url).port);
  const seeded = trustKitAndroidReport(chain, "seeded.keypin.test", 443, [unrelatedPin()]);
  assert.equal((await post(collector.url, JSON.stringify(seeded))).status, 201);
});
after(async () => {
  await collector.close();
  await store.close();
  temp.remove();
});

const report = (host: string): string =>
  JSON.stringify(trustKitAndroidReport(chain, host, 443, [unrelatedPin()]));

/** One raw HTTP/1.1 request (Connection: close) and the whole answer. */
async function raw(p: number, head: string, body = ""): Promise<{ status: number; text: string }> {
  const socket = connect(p, "127.0.0.1");
  await once(socket, "connect");
  let text = "";
  socket.on("data", (d: Buffer) => {
    text += d.toString("latin1");
  });
  socket.write(`${head}\r\n${body}`);
  await once(socket, "close");
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

const curl = async (args: string[]): Promise<{ status: number; body: string }> => {
  const { stdout } = await run("curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code}", ...args]);
  const at = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
};

describe("DNS rebinding: on loopback with no token, only the collector's own Host names are served", () => {
  test("control: by 127.0.0.1 the API answers the reports; by a rebound name (curl --resolve) it is 403", async () => {
    const own = await curl([`http://127.0.0.1:${port}/api/groups`]);
    assert.equal(own.status, 200);
    assert.match(own.body, /seeded\.keypin\.test/, "the control reads the reports");
    const rebound = await curl([
      "--resolve",
      `rebind.attacker.example:${port}:127.0.0.1`,
      `http://rebind.attacker.example:${port}/api/groups`,
    ]);
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).code, "ERR_COLLECT_HOST");
    assert.doesNotMatch(rebound.body, /seeded\.keypin\.test/);
  });

  test("every path (API, dashboard, ingest) and every foreign Host form is refused; own names in any case pass", async () => {
    const foreign = [
      `rebind.attacker.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `localhost.attacker.example:${port}`,
      `127.0.0.1:${port}.attacker.example`,
      "127.0.0.1.",
      "localhost.",
      "127.1",
      "2130706433",
      "0.0.0.0",
      "[::]",
      `evil@127.0.0.1:${port}`,
      "",
    ];
    const requests = (host: string) => [
      `GET /api/groups HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`,
      `GET /api/series HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`,
      `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`,
    ];
    for (const host of foreign) {
      for (const head of requests(host)) {
        const answer = await raw(port, head);
        // An empty Host is a 400 from Node's parser or our 403; either way no data.
        assert.ok(
          [400, 403].includes(answer.status),
          `${JSON.stringify(head)}: ${answer.text.slice(0, 200)}`,
        );
        assert.doesNotMatch(answer.text, /seeded\.keypin\.test|<html/i, head);
      }
      const body = report("rebound.keypin.test");
      const posted = await raw(
        port,
        `POST /report HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`,
        body,
      );
      assert.ok([400, 403].includes(posted.status), `POST Host ${host}: ${posted.text.slice(0, 200)}`);
    }
    // No Host at all (HTTP/1.0).
    assert.equal((await raw(port, "GET /api/groups HTTP/1.0\r\n")).status, 403);
    assert.deepEqual(await store.groups({ host: "rebound.keypin.test" }), [], "no rebound report stored");
    // The name is what tells a rebinding page apart (its Host is its own name); the port may be left out.
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      "127.0.0.1",
      "localhost",
      // An address, as an emulator (10.0.2.2) or a port-forward reaches loopback: no page can rebind one.
      `10.0.2.2:${port}`,
      "[fe80::1]",
    ]) {
      const answer = await raw(port, `GET /api/groups HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`);
      assert.equal(answer.status, 200, host);
      assert.match(answer.text, /seeded\.keypin\.test/);
    }
  });

  test("on ::1 too: [::1] is served, a name rebound to ::1 is 403", async () => {
    const six = await startCollector({ store, host: "::1" });
    try {
      const p = Number(new URL(six.url).port);
      const own = await curl(["-g", `http://[::1]:${p}/api/groups`]);
      assert.equal(own.status, 200);
      assert.match(own.body, /seeded\.keypin\.test/);
      const rebound = await curl([
        "--resolve",
        `rebind.attacker.example:${p}:[::1]`,
        `http://rebind.attacker.example:${p}/api/groups`,
      ]);
      assert.equal(rebound.status, 403);
      assert.doesNotMatch(rebound.body, /seeded\.keypin\.test/);
    } finally {
      await six.close();
    }
  });

  test("allowedHosts (a reverse proxy's name) and a token (the API then needs it) lift the check", async () => {
    const proxied = await startCollector({ store, allowedHosts: ["reports.example.com"] });
    const tokened = await startCollector({ store, token: "0123456789abcdef-token" });
    try {
      const p = Number(new URL(proxied.url).port);
      const viaProxy = await curl([
        "--resolve",
        `reports.example.com:${p}:127.0.0.1`,
        `http://reports.example.com:${p}/api/groups`,
      ]);
      assert.equal(viaProxy.status, 200);
      const other = await curl([
        "--resolve",
        `rebind.attacker.example:${p}:127.0.0.1`,
        `http://rebind.attacker.example:${p}/api/groups`,
      ]);
      assert.equal(other.status, 403);
      const t = Number(new URL(tokened.url).port);
      const resolve = ["--resolve", `rebind.attacker.example:${t}:127.0.0.1`];
      const url = `http://rebind.attacker.example:${t}/api/groups`;
      assert.equal((await curl([...resolve, url])).status, 401, "a page cannot hold the token");
      assert.equal(
        (await curl([...resolve, "-H", "authorization: Bearer 0123456789abcdef-token", url])).status,
        200,
      );
    } finally {
      await proxied.close();
      await tokened.close();
    }
  });
});

describe("cross-site report POSTs are refused; report senders' POSTs are stored", () => {
  test("what senders send (application/json, with or without charset, no Origin) is 201; a page's forms are 415/403", async () => {
    for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON"]) {
      assert.equal(
        (await post(collector.url, report("sender.keypin.test"), { "content-type": type })).status,
        201,
        type,
      );
    }
    // Same-origin (the collector's own page) is not cross-site.
    assert.equal(
      (await post(collector.url, report("sender.keypin.test"), { origin: `http://127.0.0.1:${port}` }))
        .status,
      201,
    );
    const refusals: [Record<string, string>, number, string][] = [
      [{ "content-type": "text/plain" }, 415, "ERR_COLLECT_CONTENT_TYPE"],
      [{ "content-type": "text/plain;charset=UTF-8" }, 415, "ERR_COLLECT_CONTENT_TYPE"],
      [{ "content-type": "application/x-www-form-urlencoded" }, 415, "ERR_COLLECT_CONTENT_TYPE"],
      [{ "content-type": "multipart/form-data; boundary=x" }, 415, "ERR_COLLECT_CONTENT_TYPE"],
      [{ "content-type": "" }, 415, "ERR_COLLECT_CONTENT_TYPE"],
      [{ origin: "http://evil.example" }, 403, "ERR_COLLECT_ORIGIN"],
      [{ origin: "null" }, 403, "ERR_COLLECT_ORIGIN"],
      [{ origin: `http://localhost:${port + 1}` }, 403, "ERR_COLLECT_ORIGIN"],
      [{ "sec-fetch-site": "cross-site" }, 403, "ERR_COLLECT_ORIGIN"],
    ];
    for (const [headers, status, code] of refusals) {
      const answer = await post(collector.url, report("injected.keypin.test"), headers);
      assert.equal(answer.status, status, JSON.stringify(headers));
      assert.equal(answer.json.code, code, JSON.stringify(headers));
    }
    assert.deepEqual(await store.groups({ host: "injected.keypin.test" }), []);
    const sent = await store.groups({ host: "sender.keypin.test" });
    assert.equal(
      sent.reduce((n, g) => n + g.count, 0),
      4,
    );
  });

  test("in Chromium, a page of another origin: its POSTs reach a plain server (control), the collector stores none", {
    skip: skipWithoutChromium(),
  }, async () => {
    // The control: a server that takes anything, recording what the browser sent it.
    const seen: { method: string; headers: IncomingHttpHeaders }[] = [];
    const plain = createServer((req, res) => {
      seen.push({ method: req.method ?? "", headers: req.headers });
      req.resume();
      req.on("end", () => res.writeHead(201).end());
    });
    const page = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>attacker</title>");
    });
    plain.listen(0, "127.0.0.1");
    page.listen(0, "127.0.0.1");
    await Promise.all([once(plain, "listening"), once(page, "listening")]);
    const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/report`;
    const pageUrl = `http://localhost:${(page.address() as AddressInfo).port}/`;
    const browser = await chromium.launch(chromiumLaunchOptions);
    try {
      const tab = await browser.newPage();
      await tab.goto(pageUrl);
      const attack = (target: string, body: string) =>
        tab.evaluate(
          async ([url, text]) => {
            const out: string[] = [];
            // A "simple" request (no preflight): no-cors, text/plain.
            await fetch(url as string, { method: "POST", mode: "no-cors", body: text as string }).then(
              () => out.push("no-cors sent"),
              (e) => out.push(`no-cors: ${e}`),
            );
            // application/json from another origin needs a preflight.
            await fetch(url as string, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: text as string,
            }).then(
              (r) => out.push(`json ${r.status}`),
              (e) => out.push(`json refused: ${e}`),
            );
            return out;
          },
          [target, body],
        );
      await attack(plainUrl, report("browser.keypin.test"));
      const posts = seen.filter((r) => r.method === "POST");
      assert.ok(posts.length >= 1, `the control received the page's POST: ${JSON.stringify(seen)}`);
      assert.match(String(posts[0]?.headers["content-type"]), /^text\/plain/);
      assert.equal(posts[0]?.headers.origin, pageUrl.replace(/\/$/, ""));

      const results = await attack(collector.url, report("browser.keypin.test"));
      assert.match(results.join("\n"), /json refused/, "the preflight is not granted");
      assert.deepEqual(await store.groups({ host: "browser.keypin.test" }), [], "nothing stored");
    } finally {
      await browser.close();
      plain.close();
      page.close();
    }
  });
});
