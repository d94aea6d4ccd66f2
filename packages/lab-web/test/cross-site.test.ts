// Another site's page in a real browser (Debian's Chromium): what it can make the browser ask the lab server for,
// and what it gets. An unchecked control (a plain node:http server) shows the same page's requests get through;
// the lab server refuses each one (Fetch Metadata, then the Host check and JSON-only POSTs behind it).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { type LabWeb, startLabWeb } from "@keypin/lab-web";
import { chromiumLaunchOptions, skipWithoutChromium } from "@keypin/testkit";
import { type Browser, chromium } from "playwright-core";
import { readSse } from "./http-client.js";

/** The attacker's page: it embeds, streams, reads and posts to `target` as a page of another site can. */
function attackerPage(target: string): string {
  return `<!doctype html><title>evil</title>
<img src="${target}api/runs/r1/files/sslkeylog.txt">
<script src="${target}assets/app.js"></script>
<script>
  new EventSource("${target}api/runs/r1/events");
  fetch("${target}api/lab", { mode: "no-cors" });
  fetch("${target}api/runs", { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: '{"scenarios":[3]}' });
</script>`;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

describe("another site's page in Chromium", { skip: skipWithoutChromium() }, () => {
  let web: LabWeb;
  let browser: Browser;
  let evil: Server;
  let evilPort: number;
  let control: Server;
  let controlPort: number;
  const controlSaw: IncomingMessage[] = [];

  before(async () => {
    web = await startLabWeb({});
    await readSse(`${web.url}api/runs/r1/events`);
    control = createServer((req, res) => {
      controlSaw.push(req);
      res.end("answered");
    });
    controlPort = await listen(control);
    // "localhost" is another site than "127.0.0.1" for the browser.
    evil = createServer((req, res) => {
      const target = req.url === "/control" ? `http://127.0.0.1:${controlPort}/` : web.url;
      res.setHeader("content-type", "text/html");
      res.end(attackerPage(target));
    });
    evilPort = await listen(evil);
    browser = await chromium.launch({ ...chromiumLaunchOptions });
  });
  after(async () => {
    await browser?.close();
    await web.close();
    await new Promise((resolve) => evil.close(resolve));
    await new Promise((resolve) => control.close(resolve));
  });

  /**
   * Opens the attacker's page and returns the HTTP status of every request it made to `port`, by path, as the
   * browser received it (Chrome's DevTools protocol: the status even of a response the browser then blocked).
   */
  async function visit(path: string, port: number): Promise<Map<string, number>> {
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    const urls = new Map<string, string>();
    const codes = new Map<string, number>();
    cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
    // The two events may come in either order; a blocked response has only the extra info.
    cdp.on("Network.responseReceivedExtraInfo", (e) => codes.set(e.requestId, e.statusCode));
    cdp.on("Network.responseReceived", (e) => codes.set(e.requestId, e.response.status));
    const statuses = new Map<string, number>();
    const collect = (): void => {
      for (const [id, code] of codes) {
        const url = urls.get(id);
        if (url && Number(new URL(url).port) === port) statuses.set(new URL(url).pathname, code);
      }
    };
    try {
      await page.goto(`http://localhost:${evilPort}${path}`);
      for (let i = 0; i < 400; i++) {
        collect();
        if (statuses.size >= 5) break;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await page.close();
    }
    return statuses;
  }

  it("a plain node:http server answers all of them (the control): the key log, the stream, the POST", async () => {
    const statuses = await visit("/control", controlPort);
    assert.equal(statuses.size, 5, JSON.stringify([...statuses]));
    for (const [path, status] of statuses) assert.equal(status, 200, path);
    assert.ok(controlSaw.some((req) => req.method === "POST" && req.url === "/api/runs"));
    assert.equal(controlSaw.find((req) => req.url === "/api/lab")?.headers["sec-fetch-site"], "cross-site");
  });

  it("the lab server refuses every one of them with 403 and starts no run", async () => {
    const statuses = await visit("/", web.port);
    assert.equal(statuses.size, 5, JSON.stringify([...statuses]));
    for (const [path, status] of statuses) assert.equal(status, 403, path);
    const lab = (await (await fetch(`${web.url}api/lab`)).json()) as { runs: { id: string }[] };
    assert.deepEqual(
      lab.runs.map((r) => r.id),
      ["r1"],
    );
  });
});
