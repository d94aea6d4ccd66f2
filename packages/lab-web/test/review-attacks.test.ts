// An outside review's attacks on `keypin lab --web` (@keypin/lab-web and @keypin/lab as the
// tests load them): a process in the
// same Node process (tls.connect, key log lines), secrets in any answer, the openssl commands in a hostile shell path, Host and
// request-target spellings, path traversal, unbounded runs, stalled clients, hostile event data in the page and a
// page of another 127.0.0.1 port in Chromium. Every test is an attack the lab holds off now; two of them (the
// tls.connect wrapper, the slowloris timeout) failed when written and pass since the fixes they asked for.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, request, type Server } from "node:http";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import { type LabWeb, startLabWeb } from "@keypin/lab-web";
import { chromiumLaunchOptions, createChain, skipWithoutChromium, startHttpsServer } from "@keypin/testkit";
import { type Browser, chromium } from "playwright-core";
import { httpRequest, rawExchange, readSse } from "./http-client.js";

const tlsCjs = createRequire(import.meta.url)("node:tls") as typeof tls & { connect: typeof tls.connect };
// The page's build (tests load the packages' sources through tsconfig paths, whose src/client/ holds no .js).
const clientDir = fileURLToPath(new URL("../dist/client/", import.meta.url));
const whatIf = { attackerCaInstalled: true, viaProxy: true, pins: ["root"], rotated: false, expired: false };

async function runEnds(web: LabWeb, id: string): Promise<void> {
  const sse = await readSse(`${web.url}api/runs/${id}/events`);
  assert.equal(sse.status, 200);
  assert.ok(sse.ended, `run ${id}'s stream ended`);
}

async function postRun(web: LabWeb, body: unknown): Promise<string> {
  const response = await fetch(`${web.url}api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

/** Polls (each turn of the event loop) until `when()` or the deadline; whether it came true. */
async function until(when: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (when()) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return when();
}

// The lab's app once wrapped tls.connect process-wide while a request was in flight (tls-watch.ts, removed in
// fd30188; this review had found that a run put back the function it had saved, silently dropping a wrapper other
// code installed meanwhile). These tests hold the lab to touching no other code's TLS.
describe("TLS of other code in the same process during a run", () => {
  it("a run never replaces tls.connect, and a wrapper other code installed (an APM agent, a process-wide pin check) stays in and sees the app's sockets", async () => {
    const before = tlsCjs.connect;
    let seen = 0;
    const theirs = function otherCodesConnect(this: unknown, ...args: unknown[]) {
      seen++;
      return (before as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
    } as typeof tls.connect;
    tlsCjs.connect = theirs;
    let replaced = 0;
    const web = await startLabWeb({});
    try {
      let ended = false;
      const done = runEnds(web, "r1").finally(() => {
        ended = true;
      });
      while (!ended) {
        if (tlsCjs.connect !== theirs) replaced++;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await done;
      assert.ok(
        seen > 0,
        "the control: the app's TLS sockets go through tls.connect, so through the other wrapper",
      );
      assert.equal(
        replaced,
        0,
        "turns of the event loop on which tls.connect was not the other code's wrapper",
      );
      assert.equal(tlsCjs.connect, theirs);
    } finally {
      await web.close();
      tlsCjs.connect = before;
    }
  });

  it("does not watch other code's TLS sockets: their key log lines never reach sslkeylog.txt", async () => {
    const chain = await createChain("p256", ["other.test"], "review");
    const other = await startHttpsServer({ key: chain.leaf.keyPem, cert: chain.served });
    const ours: string[] = [];
    let duringRun = 0;
    const web = await startLabWeb({});
    try {
      let ended = false;
      const done = runEnds(web, "r1").finally(() => {
        ended = true;
      });
      while (!ended) {
        await new Promise<void>((resolve) => {
          const socket = tlsCjs.connect({
            host: "127.0.0.1",
            port: other.port,
            servername: "other.test",
            ca: chain.root.pem,
            lookup: (_h, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, "127.0.0.1", 4),
          });
          socket.on("keylog", (line: Buffer) => ours.push(line.toString("latin1").trimEnd()));
          socket.on("secureConnect", () => socket.end());
          socket.on("close", () => resolve());
          socket.on("error", () => resolve());
        });
        if (!ended) duringRun++;
      }
      await done;
      assert.ok(duringRun > 0, "the control: some of our TLS connections were made while the run was going");
      assert.ok(ours.length > 0, "our own sockets gave key log lines");
      const served = await (await fetch(`${web.url}api/runs/r1/files/sslkeylog.txt`)).text();
      const lines = new Set(served.split("\n").filter((l) => l !== ""));
      assert.ok(lines.size > 0, "the control: the lab's app's own key log lines are served");
      for (const line of ours)
        assert.ok(!lines.has(line), "a key log line of another socket is in sslkeylog.txt");
    } finally {
      await web.close();
      await other.close();
    }
  });
});

describe("secrets: no private key in any answer, file or folder", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({ assetsDir: clientDir });
    await runEnds(web, "r1");
    await runEnds(web, await postRun(web, { whatIf }));
    await runEnds(web, await postRun(web, { whatIf: { ...whatIf, pins: [], rotated: true } }));
  });
  after(() => web.close());

  it("every page, asset, API answer, stream and download carries certificates only (Node's key parser finds no key)", async () => {
    const texts: [string, string][] = [];
    const get = async (path: string) => {
      const response = await fetch(`${web.url}${path.replace(/^\//, "")}`);
      assert.equal(response.status, 200, path);
      texts.push([path, await response.text()]);
      return texts[texts.length - 1]![1];
    };
    await get("/");
    for (const name of readdirSync(clientDir)) await get(`/assets/${name}`);
    await get("/api/lab");
    for (const id of ["r1", "r2", "r3"]) {
      await get(`/api/runs/${id}`);
      await get(`/api/runs/${id}/events`);
      const jsonl = await get(`/api/runs/${id}/events.jsonl`);
      await get(`/api/runs/${id}/pins`);
      const scenarios = new Set(
        jsonl
          .split("\n")
          .filter((l) => l)
          .map((l) => (JSON.parse(l) as { scenario: number | null }).scenario),
      );
      for (const n of scenarios) if (n !== null) await get(`/api/runs/${id}/platforms?scenario=${n}`);
      const files = JSON.parse(await get(`/api/runs/${id}/files`)) as { name: string }[];
      for (const f of files) await get(`/api/runs/${id}/files/${encodeURIComponent(f.name)}`);
    }
    let pems = 0;
    for (const [path, text] of texts) {
      // JSON escapes newlines: undo it so PEM blocks inside JSON strings are found too.
      const plain = text.replace(/\\n/g, "\n").replace(/\\r/g, "");
      assert.ok(!/PRIVATE/i.test(plain), `${path} names a PRIVATE key`);
      for (const match of plain.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)) {
        assert.equal(match[1], "CERTIFICATE", `${path} holds a PEM block of type ${match[1]}`);
        pems++;
      }
      for (const blob of plain.match(/[A-Za-z0-9+/]{100,}={0,2}/g) ?? []) {
        const der = Buffer.from(blob, "base64");
        for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
          assert.throws(() => createPrivateKey({ key: der, format: "der", type }), `${path}: a ${type} key`);
        }
      }
    }
    assert.ok(pems > 10, "the control: certificates were found in the answers");
  });

  it("the runs' folder is private (0700) and holds certificate PEMs only", () => {
    assert.equal(statSync(web.dir).mode & 0o077, 0);
    for (const run of readdirSync(web.dir)) {
      assert.equal(statSync(join(web.dir, run)).mode & 0o077, 0);
      for (const name of readdirSync(join(web.dir, run))) {
        const text = readFileSync(join(web.dir, run, name), "utf8");
        assert.match(name, /^[a-z0-9-]+\.pem$/);
        assert.equal(statSync(join(web.dir, run, name)).mode & 0o077, 0);
        assert.deepEqual(
          [...new Set([...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]))],
          ["CERTIFICATE"],
        );
      }
    }
  });
});

describe("the openssl commands of /pins under a hostile temp folder name", () => {
  it("print exactly the pin in sh, and nothing in the path runs (quotes, $( ), backticks, ;)", async () => {
    const base = mkdtempSync(join(tmpdir(), "keypin-review-"));
    const hostile = join(base, `it's $(touch PWNED1) \`touch PWNED2\` "q" ;touch PWNED3; \\ %`);
    mkdirSync(hostile);
    const saved = process.env["TMPDIR"];
    process.env["TMPDIR"] = hostile;
    let web: LabWeb | undefined;
    try {
      web = await startLabWeb({});
      process.env["TMPDIR"] = saved;
      if (saved === undefined) delete process.env["TMPDIR"];
      assert.ok(web.dir.startsWith(hostile), "the control: the run folder lies under the hostile name");
      await runEnds(web, "r1");
      const pins = (await (await fetch(`${web.url}api/runs/r1/pins`)).json()) as {
        pin: string;
        subject: string;
        file: string;
        command: string;
      }[];
      assert.ok(pins.length > 0);
      const cwd = join(base, "cwd");
      mkdirSync(cwd);
      for (const p of new Map(pins.map((x) => [x.file, x])).values()) {
        assert.ok(p.file.startsWith(hostile));
        const out = execFileSync("sh", ["-c", p.command], { cwd, encoding: "utf8" });
        assert.equal(out, `${p.pin}\n`, p.command);
      }
      for (const dir of [cwd, base, hostile]) {
        for (const n of ["PWNED1", "PWNED2", "PWNED3"])
          assert.ok(!existsSync(join(dir, n)), `${n} in ${dir}`);
      }
    } finally {
      if (process.env["TMPDIR"] === hostile) {
        if (saved === undefined) delete process.env["TMPDIR"];
        else process.env["TMPDIR"] = saved;
      }
      await web?.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe("Host headers and request targets", () => {
  let web: LabWeb;
  before(async () => {
    web = await startLabWeb({});
    await runEnds(web, "r1");
  });
  after(() => web.close());

  const raw = (target: string, hostLines: string[]) =>
    rawExchange(
      web.port,
      `GET ${target} HTTP/1.1\r\n${hostLines.map((h) => `Host: ${h}\r\n`).join("")}Connection: close\r\n\r\n`,
    );
  const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

  it("refuses every other spelling of the loopback name (trailing dot, no port, numeric forms, userinfo, suffixes)", async () => {
    const p = web.port;
    assert.equal(
      statusOf(await raw("/api/lab", [`LOCALHOST:${p}`])),
      200,
      "the control: case does not matter",
    );
    const refused = [
      `127.0.0.1.:${p}`,
      `localhost.:${p}`,
      "127.0.0.1",
      "localhost",
      `127.1:${p}`,
      `2130706433:${p}`,
      `0x7f000001:${p}`,
      `0177.0.0.1:${p}`,
      `[::ffff:127.0.0.1]:${p}`,
      `127.0.0.1:0${p}`,
      `127.0.0.1:${p}.evil.example`,
      `evil.example@127.0.0.1:${p}`,
      `127.0.0.1:${p}@evil.example`,
      `127.0.0.1:${p},evil.example`,
      `evil.example:${p}`,
      `localhost.evil.example:${p}`,
    ];
    for (const host of refused) {
      const response = await raw("/api/runs/r1/files/sslkeylog.txt", [host]);
      assert.notEqual(statusOf(response), 200, host);
      assert.ok(!response.includes("CLIENT_RANDOM") && !response.includes("CLIENT_HANDSHAKE"), host);
    }
  });

  it("a duplicate Host whose first value is another site's, and absolute-form targets, are not answered", async () => {
    const p = web.port;
    for (const response of [
      await raw("/api/runs/r1/files/sslkeylog.txt", [`evil.example:${p}`, `127.0.0.1:${p}`]),
      await raw(`http://127.0.0.1:${p}/api/runs/r1/files/sslkeylog.txt`, [`evil.example:${p}`]),
      await raw(`http://evil.example:${p}/api/runs/r1/files/sslkeylog.txt`, [`127.0.0.1:${p}`]),
      await raw(`//evil.example/api/runs/r1/files/sslkeylog.txt`, [`127.0.0.1:${p}`]),
      await raw(`*`, [`127.0.0.1:${p}`]),
    ]) {
      assert.notEqual(statusOf(response), 200, response.slice(0, 80));
      assert.ok(!response.includes("CLIENT_RANDOM") && !response.includes("CLIENT_HANDSHAKE"));
    }
  });
});

describe("path traversal and run ids", () => {
  let web: LabWeb;
  let assets: string;
  let outside: string;
  before(async () => {
    // The page's own build with planted symlinks, as a user's checkout could hold: one to a secret outside the
    // folder, one to a folder, one dot file.
    assets = mkdtempSync(join(tmpdir(), "keypin-review-assets-"));
    outside = mkdtempSync(join(tmpdir(), "keypin-review-outside-"));
    cpSync(clientDir, assets, { recursive: true });
    writeFileSync(join(outside, "secret.txt"), "TOP-SECRET-OUTSIDE\n");
    symlinkSync(join(outside, "secret.txt"), join(assets, "leak.txt"));
    symlinkSync(join(outside, "secret.txt"), join(assets, "leak.js"));
    symlinkSync(outside, join(assets, "dir"));
    writeFileSync(join(assets, ".env.txt"), "TOP-SECRET-DOTFILE\n");
    web = await startLabWeb({ assetsDir: assets });
    await runEnds(web, "r1");
  });
  after(async () => {
    await web.close();
    rmSync(assets, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it("/assets serves the build's own files and nothing through .., encodings, NUL, unicode dots or symlinks", async () => {
    const ok = await httpRequest(`${web.url}assets/app.js`);
    assert.equal(ok.status, 200, "the control");
    const attempts = [
      "/assets/leak.txt",
      "/assets/leak.js",
      "/assets/dir/secret.txt",
      "/assets/dir%2fsecret.txt",
      "/assets/.env.txt",
      "/assets/..%2f..%2fpackage.json",
      "/assets/%2e%2e%2fpackage.json",
      "/assets/%2e%2e/package.json",
      "/assets/..%5cpackage.json",
      "/assets/..\\package.json",
      "/assets/%252e%252e%252fpackage.json",
      "/assets/app.js%00.png",
      "/assets/app.js%00",
      "/assets/%E2%80%A4%E2%80%A4%2fpackage.json",
      "/assets/%EF%BC%8E%EF%BC%8E%2fpackage.json",
      "/assets/app.js/",
      "/assets//app.js",
      "/assets/./app.js",
      "/assets/APP.JS",
      "/assets/app.js%20",
      "/assets/app.js.",
      "/assets/%",
      "/assets/" + "a".repeat(5000) + ".js",
      "/../package.json",
      "/%2e%2e/package.json",
      "/assets/../../package.json",
    ];
    for (const path of attempts) {
      const response = await httpRequest(web.url, { path });
      assert.ok([400, 404].includes(response.status), `${path}: ${response.status}`);
      assert.ok(!response.body.includes("TOP-SECRET"), path);
      assert.ok(!response.body.includes('"name"'), path);
    }
  });

  it("/files/<name> and run ids are looked up, never joined: .., encodings, NUL, prototype names", async () => {
    assert.equal((await httpRequest(`${web.url}api/runs/r1/files/keypin.json`)).status, 200, "the control");
    const attempts = [
      "/api/runs/r1/files/..%2fr1%2fkeypin.json",
      "/api/runs/r1/files/%2e%2e",
      "/api/runs/r1/files/.",
      "/api/runs/r1/files/keypin.json%00",
      "/api/runs/r1/files/keypin.json/",
      "/api/runs/r1/files/KEYPIN.JSON",
      "/api/runs/r1/files/__proto__",
      "/api/runs/r1/files/constructor",
      "/api/runs/r1/files/%2fetc%2fpasswd",
      "/api/runs/__proto__",
      "/api/runs/constructor/files",
      "/api/runs/hasOwnProperty/pins",
      "/api/runs/r1%2ffiles",
      "/api/runs/r1%00",
      "/api/runs/R1",
      "/api/runs/r01",
      "/api/runs/%72%31x",
    ];
    for (const path of attempts) {
      const response = await httpRequest(web.url, { path });
      assert.ok([400, 404].includes(response.status), `${path}: ${response.status}`);
      assert.ok(!response.body.includes("root:"), path);
    }
    // A decoded id is only a Map key: an encoded "r1" is the same run, by design.
    assert.equal((await httpRequest(web.url, { path: "/api/runs/%72%31" })).status, 200);
  });
});

describe("resource exhaustion", () => {
  it("many runs in a row: only the last 16 are kept, an old run's folder is removed", async () => {
    const web = await startLabWeb({});
    try {
      await runEnds(web, "r1");
      const r1Dir = join(web.dir, "r1");
      assert.ok(existsSync(r1Dir), "the control: r1's folder exists");
      for (let i = 0; i < 17; i++) await runEnds(web, await postRun(web, { whatIf }));
      const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: { id: string }[] };
      assert.ok(lab.runs.length <= 16, `kept ${lab.runs.length} runs`);
      assert.equal((await httpRequest(`${web.url}api/runs/r1`)).status, 404);
      assert.equal((await httpRequest(`${web.url}api/runs/r1/files/sslkeylog.txt`)).status, 404);
      assert.ok(await until(() => !existsSync(r1Dir), 5000), "r1's folder is gone");
      assert.ok(readdirSync(web.dir).length <= 16);
    } finally {
      await web.close();
    }
  });

  it("12 run requests at once start exactly one run (the others 409): no race around the one-run rule", async () => {
    const web = await startLabWeb({});
    try {
      await runEnds(web, "r1");
      const statuses = await Promise.all(
        Array.from({ length: 12 }, () =>
          httpRequest(`${web.url}api/runs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ whatIf }),
          }).then((r) => r.status),
        ),
      );
      assert.deepEqual(
        statuses.filter((s) => s === 201),
        [201],
      );
      assert.ok(
        statuses.every((s) => s === 201 || s === 409),
        JSON.stringify(statuses),
      );
      await runEnds(web, "r2");
      const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: { id: string }[] };
      assert.deepEqual(
        lab.runs.map((r) => r.id),
        ["r1", "r2"],
      );
    } finally {
      await web.close();
    }
  });

  it("what-if bodies with huge or repeated arrays are refused before any run starts", async () => {
    const web = await startLabWeb({});
    try {
      await runEnds(web, "r1");
      const bodies = [
        { whatIf: { ...whatIf, pins: Array(2000).fill("root") } },
        { whatIf: { ...whatIf, pins: ["root", "root"] } },
        { scenarios: Array(1000).fill(3) },
        { whatIf: { ...whatIf, pins: Array(5000).fill("leaf") } },
      ];
      for (const body of bodies) {
        const response = await httpRequest(`${web.url}api/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        assert.ok([400, 413].includes(response.status), `${response.status} ${response.body.slice(0, 100)}`);
      }
      const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: unknown[] };
      assert.equal(lab.runs.length, 1);
    } finally {
      await web.close();
    }
  });

  it("60 event-stream clients that never read do not stop the server answering others", async () => {
    const web = await startLabWeb({ eventDelayMs: 2 });
    const sockets: ReturnType<typeof connect>[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const socket = connect(web.port, "127.0.0.1");
        socket.on("error", () => {});
        socket.pause();
        socket.write(`GET /api/runs/r1/events HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n\r\n`);
        sockets.push(socket);
      }
      await runEnds(web, "r1");
      const id = await postRun(web, { whatIf });
      await runEnds(web, id);
      assert.equal((await httpRequest(`${web.url}api/lab`)).status, 200);
    } finally {
      for (const s of sockets) s.destroy();
      await web.close();
    }
  });

  it("slowloris: a client that never finishes its headers is cut off after headersTimeout (10 s, as README says), not after Node's default 30 s connections check", {
    timeout: 25_000,
  }, async () => {
    const web = await startLabWeb({});
    const socket = connect(web.port, "127.0.0.1");
    const start = Date.now();
    let drip: NodeJS.Timeout | undefined;
    let answer = "";
    try {
      socket.write(`GET /api/lab HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n`);
      drip = setInterval(() => socket.write("X-Slow: 1\r\n"), 1000);
      const closedAfter = await new Promise<number>((resolve) => {
        const limit = setTimeout(() => resolve(Number.POSITIVE_INFINITY), 20_000);
        socket.on("error", () => {});
        socket.on("data", (chunk: Buffer) => {
          answer += chunk.toString("latin1");
        });
        socket.on("close", () => {
          clearTimeout(limit);
          resolve(Date.now() - start);
        });
      });
      // Generous: twice the documented 10 s. Node checks headersTimeout only every connectionsCheckingInterval
      // (30 s by default): createServer({ connectionsCheckingInterval: 1000 }) makes the 10 s hold.
      assert.ok(
        closedAfter <= 20_000,
        `the stalled connection was still open after ${Date.now() - start} ms`,
      );
      // Said as a timeout (as Node's own default handler does), not as a malformed request.
      assert.match(answer, /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(drip);
      socket.destroy();
      await web.close();
    }
  });
});

describe("in Chromium: hostile event data in the page, and a page on another 127.0.0.1 port", {
  skip: skipWithoutChromium(),
}, () => {
  let web: LabWeb;
  let browser: Browser;
  let relay: Server;
  let relayPort: number;
  let evil: Server;
  let evilPort: number;
  const payload1 = "<img src=x onerror=window.__xss=1>";
  const payload2 = "</code><script>window.__xss=2</script><svg onload=window.__xss=3>";

  const listen = (server: Server) =>
    new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
    );

  before(async () => {
    web = await startLabWeb({ assetsDir: clientDir });
    await runEnds(web, "r1");
    // A relay that stands for a lab whose certificates an attacker controls (a --keep cast, a future scenario):
    // it serves the real page and the real API, with every subject's names replaced by markup, and without the
    // server's CSP, so that only the page's own writing (text, never markup) stands between the data and a script.
    relay = createServer((req, res) => {
      const upstream = request(
        {
          host: "127.0.0.1",
          port: web.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: `127.0.0.1:${web.port}`, "accept-encoding": "identity" },
        },
        (up) => {
          const chunks: Buffer[] = [];
          up.on("data", (c: Buffer) => chunks.push(c));
          up.on("end", () => {
            let body = Buffer.concat(chunks);
            const type = String(up.headers["content-type"] ?? "");
            if (/json|event-stream|ndjson/.test(type)) {
              body = Buffer.from(
                body.toString("utf8").replaceAll("api.myapp.com", payload1).replaceAll("My App", payload2),
              );
            }
            const headers = { ...up.headers };
            delete headers["content-security-policy"];
            delete headers["content-length"];
            delete headers["transfer-encoding"];
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(body);
          });
        },
      );
      req.pipe(upstream);
    });
    relayPort = await listen(relay);
    evil = createServer((_req, res) => {
      const t = web.url;
      res.setHeader("content-type", "text/html");
      res.end(`<!doctype html><title>same-site evil</title>
<iframe name="sink"></iframe>
<form id="f" action="${t}api/runs" method="POST" enctype="text/plain" target="sink"><input name='{"scenarios":[3],"x":"' value='"}'></form>
<img src="${t}api/runs/r1/pins">
<script src="${t}api/runs/r1/events.jsonl"></script>
<script>
  new EventSource("${t}api/runs/r1/events");
  fetch("${t}api/runs/r1/files/sslkeylog.txt", { mode: "no-cors" });
  navigator.sendBeacon("${t}api/runs", new Blob(['{"scenarios":[3]}'], { type: "text/plain" }));
  fetch("${t}api/runs", { method: "POST", mode: "no-cors", keepalive: true, headers: { "content-type": "text/plain" }, body: '{"scenarios":[3]}' });
  document.getElementById("f").submit();
</script>`);
    });
    evilPort = await listen(evil);
    browser = await chromium.launch({ ...chromiumLaunchOptions });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await new Promise((resolve) => relay?.close(resolve));
    await new Promise((resolve) => evil?.close(resolve));
  });

  it("markup in certificate subjects (and in the permalink) is drawn as text: no element, no script runs", async () => {
    const page = await browser.newPage();
    try {
      const dialogs: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const hash = `#run=r1&scenario=${encodeURIComponent(payload2)}&step=1`;
      await page.goto(`http://127.0.0.1:${relayPort}/${hash}`);
      await page.waitForFunction(
        () => {
          const d = (
            globalThis as unknown as {
              document: {
                body: { dataset: Record<string, string> };
                querySelectorAll(s: string): { length: number };
              };
            }
          ).document;
          return d.body.dataset["runStatus"] === "done" && d.querySelectorAll("li.step").length > 20;
        },
        undefined,
        { timeout: 20_000 },
      );
      await page.waitForTimeout(500);
      const seen = await page.evaluate(() => {
        const g = globalThis as unknown as {
          __xss?: number;
          document: {
            body: { textContent: string };
            querySelectorAll(s: string): ArrayLike<{
              attributes: ArrayLike<{ name: string }>;
              getAttribute(n: string): string | null;
              tagName: string;
            }>;
          };
        };
        const all = Array.from(g.document.querySelectorAll("*"));
        return {
          xss: g.__xss ?? null,
          handlers: all.filter((el) => Array.from(el.attributes).some((a) => a.name.startsWith("on"))).length,
          inlineScripts: Array.from(g.document.querySelectorAll("script")).filter(
            (s) => !s.getAttribute("src"),
          ).length,
          imgX: g.document.querySelectorAll('img[src="x"]').length,
          text: g.document.body.textContent,
        };
      });
      assert.ok(seen.text.includes(payload1), "the control: the hostile subject reached the page (as text)");
      assert.equal(seen.xss, null);
      assert.equal(seen.handlers, 0);
      assert.equal(seen.inlineScripts, 0);
      assert.equal(seen.imgX, 0);
      assert.deepEqual(dialogs, []);
    } finally {
      await page.close();
    }
  });

  it("a page on another 127.0.0.1 port (same site): beacon, text/plain form and fetch POSTs, script/img inclusion and EventSource all get 403, no run starts", async () => {
    const page = await browser.newPage();
    // The oracle is the server's side: every answer the lab server finished, with the request it answered.
    const answered: { what: string; status: number; site: string }[] = [];
    const onFinish = (message: unknown): void => {
      const { request: req, response: res } = message as {
        request: {
          method: string;
          url: string;
          socket: { localPort?: number };
          headers: Record<string, string>;
        };
        response: { statusCode: number };
      };
      if (req.socket?.localPort !== web.port) return;
      answered.push({
        what: `${req.method} ${req.url}`,
        status: res.statusCode,
        site: req.headers["sec-fetch-site"] ?? "",
      });
    };
    subscribe("http.server.response.finish", onFinish);
    try {
      await page.goto(`http://127.0.0.1:${evilPort}/`);
      const expected = [
        "/api/runs/r1/pins",
        "/api/runs/r1/events.jsonl",
        "/api/runs/r1/events",
        "/api/runs/r1/files/sslkeylog.txt",
      ];
      const all = () =>
        expected.every((p) => answered.some((a) => a.what === `GET ${p}`)) &&
        answered.filter((a) => a.what === "POST /api/runs").length >= 3;
      for (let i = 0; i < 50 && !all(); i++) await page.waitForTimeout(100);
      assert.ok(
        all(),
        `the control: the page's requests reached the lab server: ${JSON.stringify(answered)}`,
      );
      for (const a of answered) {
        assert.equal(
          a.site,
          "same-site",
          `${a.what}: the browser calls another port of 127.0.0.1 the same site`,
        );
        assert.equal(a.status, 403, a.what);
      }
      const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: { id: string }[] };
      assert.deepEqual(
        lab.runs.map((r) => r.id),
        ["r1"],
      );
    } finally {
      unsubscribe("http.server.response.finish", onFinish);
      await page.close();
    }
  });
});
