// What a client (or a page of another origin) can send the lab server, and what it gets: DNS rebinding refused
// by the Host check, forms and other origins refused on POST, no file outside the allow-lists, bounded bodies,
// typed errors without stack traces, one run at a time, and no request that crashes or stalls the server.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type LabWeb, startLabWeb } from "@keypin/lab-web";
import { hasStack } from "@keypin/testkit";
import { httpRequest, isListening, rawExchange, readSse } from "./http-client.js";

let assets: string;
let outside: string;

before(() => {
  outside = mkdtempSync(join(tmpdir(), "keypin-lab-web-outside-"));
  writeFileSync(join(outside, "secret.js"), "the file outside the assets folder\n");
  assets = mkdtempSync(join(tmpdir(), "keypin-lab-web-assets-"));
  writeFileSync(
    join(assets, "index.html"),
    '<!doctype html><title>lab</title><script type="module" src="/assets/app.js"></script>\n',
  );
  writeFileSync(join(assets, "app.js"), "export const app = 1;\n");
  writeFileSync(join(assets, "style.css"), "body { margin: 0 }\n");
  writeFileSync(join(assets, ".env"), "SECRET=1\n");
  writeFileSync(join(assets, "notes.sh"), "echo not served\n");
  mkdirSync(join(assets, "sub"));
  writeFileSync(join(assets, "sub", "inner.js"), "export {};\n");
  symlinkSync(join(outside, "secret.js"), join(assets, "linked.js"));
});
after(() => {
  rmSync(assets, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

function errorCode(body: string): string {
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe("the Host check (DNS rebinding)", () => {
  let web: LabWeb;
  let control: Server;
  let controlPort: number;
  before(async () => {
    web = await startLabWeb({ assetsDir: assets });
    // The unchecked control: a plain node:http server answers whatever Host a rebinding page sends.
    control = createServer((_req, res) => res.end('{"token":"would be read"}'));
    await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
    controlPort = (control.address() as { port: number }).port;
  });
  after(async () => {
    await web.close();
    await new Promise((resolve) => control.close(resolve));
  });

  it("a plain node:http server answers Host: evil.example (what a rebound page would read)", async () => {
    const response = await httpRequest(`http://127.0.0.1:${controlPort}/api/lab`, {
      headers: { host: `evil.example:${controlPort}` },
    });
    assert.equal(response.status, 200);
    assert.match(response.body, /would be read/);
  });

  it("refuses every Host but 127.0.0.1:<port> and localhost:<port> with 403, on every route", async () => {
    const port = web.port;
    const bad = [
      "evil.example",
      `evil.example:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `localhost.evil.example:${port}`,
      "127.0.0.1",
      `127.0.0.1:${port + 1}`,
      `127.0.0.1:${port}.evil.example`,
      `0.0.0.0:${port}`,
      `[::ffff:127.0.0.1]:${port}`,
      `127.0.0.1:${port}@evil.example`,
    ];
    for (const host of bad) {
      for (const path of [
        "/",
        "/api/lab",
        "/api/runs/r1/events.jsonl",
        "/api/runs/r1/files/keypin.json",
        "/assets/app.js",
      ]) {
        const response = await httpRequest(`${web.url.slice(0, -1)}${path}`, { headers: { host } });
        assert.equal(response.status, 403, `Host ${JSON.stringify(host)} ${path}`);
        assert.equal(errorCode(response.body), "ERR_LAB_WEB_HOST");
        assert.doesNotMatch(response.body, /api\.myapp\.com|sha256\//);
      }
    }
    // A request without any Host header (HTTP/1.0) is refused too.
    const noHost = await rawExchange(port, "GET /api/lab HTTP/1.0\r\n\r\n");
    assert.match(noHost, /^HTTP\/1\.1 403 /);
    const emptyHost = await rawExchange(port, "GET /api/lab HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n");
    assert.match(emptyHost, /^HTTP\/1\.1 403 /);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const response = await httpRequest(`${web.url}api/lab`, { headers: { host } });
      assert.equal(response.status, 200, host);
    }
  });
});

describe("requests a client sends", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({ assetsDir: assets, eventDelayMs: 5 });
  });
  after(() => web.close());

  it("sends every response with the CSP default-src 'self', nosniff and no framing, errors included", async () => {
    for (const path of ["", "assets/app.js", "api/lab", "api/nothing"]) {
      const response = await fetch(`${web.url}${path}`);
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /^default-src 'self'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("x-frame-options"), "DENY");
      await response.arrayBuffer();
    }
  });

  it("serves the page and the folder's own files with their types", async () => {
    const page = await fetch(web.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(await page.text(), /<title>lab<\/title>/);
    const js = await fetch(`${web.url}assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    const css = await fetch(`${web.url}assets/style.css`);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    await css.arrayBuffer();
  });

  it("answers every traversal, dot file, subfolder, symlink or unknown type in /assets and /files with 404", async () => {
    const paths = [
      "/assets/../package.json",
      "/assets/..%2fpackage.json",
      "/assets/..%2F..%2F..%2Fetc%2Fpasswd",
      "/assets/%2e%2e/%2e%2e/etc/passwd",
      "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/assets/..\\..\\package.json",
      "/assets/.env",
      "/assets/notes.sh",
      "/assets/sub/inner.js",
      "/assets/sub%2Finner.js",
      "/assets/linked.js",
      "/assets/app.js%00.html",
      "/assets/%E0%A4%A",
      `/assets/${encodeURIComponent(join(outside, "secret.js"))}`,
      "/assets/",
      "/api/runs/r1/files/..%2F..%2F..%2Fetc%2Fpasswd",
      "/api/runs/r1/files/%2Fetc%2Fpasswd",
      "/api/runs/r1/files/../../package.json",
      "/api/runs/r1/files/.",
      "/api/runs/..%2Fr1/files",
      "/api/runs/r99/files/keypin.json",
      "//etc/passwd",
      "/index.html/../../package.json",
    ];
    for (const path of paths) {
      const response = await httpRequest(web.url, { path });
      assert.equal(response.status, 404, path);
      assert.equal(errorCode(response.body), "ERR_LAB_WEB_NOT_FOUND", path);
      assert.doesNotMatch(response.body, /outside the assets folder|SECRET|root:/, path);
    }
  });

  it("refuses a POST that is not application/json with 415 (a form of another origin cannot send one)", async () => {
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "",
    ]) {
      const response = await httpRequest(`${web.url}api/runs`, {
        method: "POST",
        headers: type ? { "content-type": type } : {},
        body: '{"scenarios":[3]}',
      });
      assert.equal(response.status, 415, type);
      assert.equal(errorCode(response.body), "ERR_LAB_WEB_CONTENT_TYPE");
    }
  });

  it("refuses a POST whose Origin is another site with 403", async () => {
    const response = await httpRequest(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://evil.example" },
      body: '{"scenarios":[3]}',
    });
    assert.equal(response.status, 403);
    assert.equal(errorCode(response.body), "ERR_LAB_WEB_HOST");
  });

  it("grants no CORS: a preflight from another origin gets no Access-Control-Allow-* header, nor does any answer", async () => {
    const preflight = await httpRequest(`${web.url}api/runs`, {
      method: "OPTIONS",
      headers: {
        origin: "http://evil.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    assert.notEqual(preflight.status, 200);
    assert.notEqual(preflight.status, 204);
    for (const path of ["api/lab", "api/runs/r1/events.jsonl", "api/runs/r1/files/sslkeylog.txt"]) {
      const response = await httpRequest(`${web.url}${path}`, { headers: { origin: "http://evil.example" } });
      assert.equal(response.status, 200, path);
      assert.equal(
        Object.keys(response.headers).some((h) => h.startsWith("access-control-")),
        false,
        path,
      );
      // Nor may another origin embed it (an <img> or <script> of the key log).
      assert.equal(response.headers["cross-origin-resource-policy"], "same-origin");
    }
    assert.equal(
      Object.keys(preflight.headers).some((h) => h.startsWith("access-control-")),
      false,
    );
  });

  it("refuses what another site's page asks for (Fetch Metadata), but follows a link to the page", async () => {
    const crossSite = [
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
      { "sec-fetch-site": "same-site", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe" },
    ];
    for (const headers of crossSite) {
      for (const path of ["api/runs/r1/files/sslkeylog.txt", "api/runs/r1/events", "assets/app.js"]) {
        const response = await httpRequest(`${web.url}${path}`, { headers });
        assert.equal(response.status, 403, `${path} ${JSON.stringify(headers)}`);
        assert.equal(errorCode(response.body), "ERR_LAB_WEB_CROSS_SITE");
      }
    }
    const post = await httpRequest(`${web.url}api/runs`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "sec-fetch-site": "same-site",
        "sec-fetch-mode": "cors",
      },
      body: '{"scenarios":[3]}',
    });
    assert.equal(post.status, 403);
    const allowed = [
      { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
      { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" },
      { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" },
    ];
    for (const headers of allowed) {
      const response = await httpRequest(web.url, { headers });
      assert.equal(response.status, 200, JSON.stringify(headers));
    }
    // A link from elsewhere opens the page, not the data behind it.
    const linked = await httpRequest(`${web.url}api/runs/r1/files/sslkeylog.txt`, {
      headers: { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" },
    });
    assert.equal(linked.status, 403);
  });

  it("refuses a body over 16 KiB with 413, declared or chunked", async () => {
    const big = JSON.stringify({ scenarios: [3], pad: "x".repeat(17 * 1024) });
    const declared = await httpRequest(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(big)) },
      body: big,
    });
    assert.equal(declared.status, 413);
    assert.equal(errorCode(declared.body), "ERR_LAB_WEB_BODY_TOO_LARGE");
    const chunk = "x".repeat(4096);
    let raw = `POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < 6; i++) raw += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    raw += "0\r\n\r\n";
    const chunked = await rawExchange(web.port, raw);
    assert.match(chunked, /^HTTP\/1\.1 413 /);
    assert.match(chunked, /ERR_LAB_WEB_BODY_TOO_LARGE/);
  });

  it("answers bad JSON with 400 ERR_LAB_WEB_JSON and a wrong shape with 400 ERR_LAB_WEB_REQUEST, never a stack", async () => {
    const post = (body: string) =>
      httpRequest(`${web.url}api/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    for (const body of ["{", "", "{'scenarios':[3]}", "\u0000", "[1,2"]) {
      const response = await post(body);
      assert.equal(response.status, 400, body);
      assert.equal(errorCode(response.body), "ERR_LAB_WEB_JSON");
      assert.equal(hasStack(response.body), false);
    }
    const wrong = [
      "null",
      "[]",
      '"scenarios"',
      "{}",
      '{"scenarios":[]}',
      '{"scenarios":[0]}',
      '{"scenarios":[8]}',
      '{"scenarios":["3"]}',
      '{"scenarios":[3.5]}',
      '{"scenarios":3}',
      `{"scenarios":[${Array(40).fill(3).join(",")}]}`,
      '{"scenarios":[3],"whatIf":{}}',
      '{"scenarios":[3],"extra":1}',
      '{"whatIf":null}',
      '{"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":["root"],"rotated":false}}',
      '{"whatIf":{"attackerCaInstalled":"yes","viaProxy":true,"pins":["root"],"rotated":false,"expired":false}}',
      '{"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":["root","root"],"rotated":false,"expired":false}}',
      '{"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":["attacker"],"rotated":false,"expired":false}}',
      '{"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":"root","rotated":false,"expired":false}}',
      '{"whatIf":{"attackerCaInstalled":true,"viaProxy":true,"pins":[],"rotated":false,"expired":false,"x":1}}',
      '{"__proto__":{"scenarios":[3]}}',
    ];
    for (const body of wrong) {
      const response = await post(body);
      assert.equal(response.status, 400, body);
      assert.equal(errorCode(response.body), "ERR_LAB_WEB_REQUEST", body);
      assert.equal(hasStack(response.body), false);
      assert.deepEqual(Object.keys(JSON.parse(response.body).error).sort(), ["code", "message"]);
    }
  });

  it("answers a second run while one is going with 409, and takes it once the first has ended", async () => {
    // Its own server, whose default run takes at least 15 ms for each of its events: the POST right after the
    // start meets it running.
    const busyWeb = await startLabWeb({ assetsDir: assets, eventDelayMs: 15 });
    try {
      const post = () =>
        fetch(`${busyWeb.url}api/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"scenarios":[1]}',
        });
      const busy = await post();
      assert.equal(busy.status, 409);
      assert.equal(((await busy.json()) as { error: { code: string } }).error.code, "ERR_LAB_WEB_BUSY");
      const { ended } = await readSse(`${busyWeb.url}api/runs/r1/events`);
      assert.equal(ended, true);
      const next = await post();
      assert.equal(next.status, 201);
      assert.deepEqual(await next.json(), { id: "r2" });
      await readSse(`${busyWeb.url}api/runs/r2/events`);
    } finally {
      await busyWeb.close();
    }
  });

  it("answers a method a route does not take with 405 and Allow", async () => {
    const response = await fetch(`${web.url}api/lab`, { method: "DELETE" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET");
    await response.arrayBuffer();
    const get = await fetch(`${web.url}api/runs`);
    assert.equal(get.status, 405);
    await get.arrayBuffer();
  });
});

describe("clients that misbehave", () => {
  let web: LabWeb;
  const faults: unknown[] = [];
  before(async () => {
    web = await startLabWeb({ assetsDir: assets, eventDelayMs: 5, onError: (error) => faults.push(error) });
  });
  after(async () => {
    await web.close();
    // Nothing any of these clients sent was a fault of the server (a 500).
    assert.deepEqual(faults, []);
  });

  it("answers a body cut off mid-way, and a client gone before its answer, without a fault", async () => {
    const cut = connect(web.port, "127.0.0.1");
    await new Promise((resolve) => cut.once("connect", resolve));
    cut.write(
      `POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"scen`,
    );
    cut.destroy();
    const gone = connect(web.port, "127.0.0.1");
    gone.end(`GET /api/runs/r1/events.jsonl HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n\r\n`);
    gone.destroy();
    const lab = await fetch(`${web.url}api/lab`);
    assert.equal(lab.status, 200);
    await lab.arrayBuffer();
  });

  it("keeps serving while a client holds a connection with half its headers, another never reads, and another sends garbage", async () => {
    const slow = connect(web.port, "127.0.0.1");
    await new Promise((resolve) => slow.once("connect", resolve));
    slow.write(`GET /api/lab HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nX-Slow: `);
    // A client that opens the event stream and never reads a byte of it.
    const stalled = connect(web.port, "127.0.0.1");
    stalled.pause();
    stalled.write(`GET /api/runs/r1/events HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n\r\n`);
    const garbage = await rawExchange(web.port, "\u0001\u0002 NOT HTTP AT ALL\r\n\r\n");
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    const huge = await rawExchange(
      web.port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nX: ${"a".repeat(64 * 1024)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431 |^HTTP\/1\.1 400 /);
    const lab = await fetch(`${web.url}api/lab`);
    assert.equal(lab.status, 200);
    await lab.arrayBuffer();
    // The run still ends for everyone else.
    const { ended, events } = await readSse(`${web.url}api/runs/r1/events`);
    assert.equal(ended, true);
    assert.equal(events.at(-1)?.event, "end");
    slow.destroy();
    stalled.destroy();
  });

  it("survives event streams aborted mid-run, and streams the whole run to the next client", async () => {
    const post = await fetch(`${web.url}api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"scenarios":[2,3]}',
    });
    const { id } = (await post.json()) as { id: string };
    for (let i = 0; i < 5; i++) {
      const partial = await readSse(`${web.url}api/runs/${id}/events`, {
        stop: (events) => events.length >= 2 + i,
      });
      assert.equal(partial.ended, false);
    }
    const full = await readSse(`${web.url}api/runs/${id}/events`);
    assert.equal(full.ended, true);
    const jsonl = (await (await fetch(`${web.url}api/runs/${id}/events.jsonl`)).text()).trimEnd().split("\n");
    assert.deepEqual(
      full.events.filter((e) => e.event === "lab").map((e) => e.data),
      jsonl,
    );
  });
});

describe("close()", () => {
  it("mid-run ends the event streams, stops the run and its cast, closes the port and removes the run folder", async () => {
    const web = await startLabWeb({ assetsDir: assets, eventDelayMs: 20 });
    const port = web.port;
    const first = await readSse(`${web.url}api/runs/r1/events`, { stop: (events) => events.length >= 1 });
    const setup = JSON.parse(first.events[0]!.data) as { data: { backend: string; proxy: string } };
    const backendPort = Number(setup.data.backend.split(":")[1]);
    const proxyPort = Number(new URL(setup.data.proxy).port);
    assert.equal(await isListening(backendPort), true);
    const response = await fetch(`${web.url}api/runs/r1/events`);
    const reading = response.text();
    await web.close();
    // The stream ended (its body completes) instead of hanging, before the run's end.
    const text = await reading;
    assert.match(text, /^retry: 1000/);
    assert.doesNotMatch(text, /"type":"summary"/);
    for (const p of [port, backendPort, proxyPort]) assert.equal(await isListening(p), false, `port ${p}`);
    assert.equal(existsSync(web.dir), false);
  });

  it("removes the run folder it wrote, certificates included", async () => {
    const web = await startLabWeb({ assetsDir: assets });
    const { ended } = await readSse(`${web.url}api/runs/r1/events`);
    assert.equal(ended, true);
    const pins = (await (await fetch(`${web.url}api/runs/r1/pins`)).json()) as { file: string }[];
    assert.equal(existsSync(join(web.dir, "r1")), true);
    for (const pin of pins) assert.equal(pin.file.startsWith(join(web.dir, "r1")), true, pin.file);
    await web.close();
    assert.equal(existsSync(web.dir), false);
  });
});
