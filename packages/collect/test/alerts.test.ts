// Alerts (issue 17): a webhook gets one JSON POST when a new group appears and when a host's reports in a
// minute reach the threshold, retried with backoff while the webhook fails; repeats of a known group do
// not alert again, and a webhook that is down never holds up or fails ingest.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { type Alert, AlertSender, openSqliteStore, startCollector } from "@keypin/collect";
import { createChain, makeTempDir, unrelatedPin } from "@keypin/testkit";
import { post, trustKitAndroidReport } from "./helpers.js";

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

test("new group and rate alerts, each delivered once after the webhook's failures; repeats stay quiet", async () => {
  using temp = makeTempDir("keypin-alerts-");
  let attempts = 0;
  const received: Alert[] = [];
  // The webhook fails its first two attempts (503, then a reset), then takes everything.
  const webhook = createServer(async (req, res) => {
    const body = await bodyOf(req);
    attempts += 1;
    if (attempts === 1) res.writeHead(503).end();
    else if (attempts === 2) req.socket.destroy();
    else {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    }
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const gaveUp: string[] = [];
  const alerts = new AlertSender({
    webhook: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
    ratePerMinute: 5,
    retryDelaysMs: [10, 20, 40],
    onGiveUp: (_a, why) => gaveUp.push(why),
  });
  const now = Date.parse("2026-12-01T10:00:10Z");
  const collector = await startCollector({ store, alerts, now: () => now });
  try {
    const chain = await createChain("p256", ["alert.keypin.test"], "alert");
    const body = JSON.stringify(trustKitAndroidReport(chain, "alert.keypin.test", 443, [unrelatedPin()]));
    assert.equal((await post(collector.url, body)).status, 201);
    await alerts.pending();
    assert.deepEqual(
      received.map((a) => a.event),
      ["new-group"],
    );
    assert.equal(attempts, 3, "503, a reset, then delivered");
    const first = received[0] as Extract<Alert, { event: "new-group" }>;
    assert.equal(first.host, "alert.keypin.test");
    assert.equal(first.classification, "interception");
    // 9 more identical reports in the same minute: no new group; the 5th report of the minute alerts once.
    for (let i = 0; i < 9; i++) assert.equal((await post(collector.url, body)).status, 201);
    await alerts.pending();
    assert.deepEqual(
      received.map((a) => a.event),
      ["new-group", "rate"],
    );
    const rate = received[1] as Extract<Alert, { event: "rate" }>;
    assert.deepEqual(
      [rate.host, rate.count, rate.threshold, rate.minute],
      ["alert.keypin.test", 5, 5, "2026-12-01T10:00:00.000Z"],
    );
    assert.deepEqual(gaveUp, []);
  } finally {
    await collector.close();
    await store.close();
    webhook.close();
  }
});

test("a webhook that is down: ingest still answers 201, and the alert is given up after its retries", async () => {
  using temp = makeTempDir("keypin-alerts-");
  // A port with nothing listening: every attempt is refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const gaveUp: string[] = [];
  const alerts = new AlertSender({
    webhook: `http://127.0.0.1:${port}/hook`,
    retryDelaysMs: [5, 10],
    onGiveUp: (_a, why) => gaveUp.push(why),
  });
  const collector = await startCollector({ store, alerts });
  try {
    const chain = await createChain("p256", ["down.keypin.test"], "down");
    const answer = await post(
      collector.url,
      JSON.stringify(trustKitAndroidReport(chain, "down.keypin.test", 443, [])),
    );
    assert.equal(answer.status, 201);
    await alerts.pending();
    assert.equal(gaveUp.length, 1);
    assert.match(gaveUp[0] as string, /ECONNREFUSED/);
  } finally {
    await collector.close();
    await store.close();
  }
});
