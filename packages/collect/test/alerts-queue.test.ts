// Alert delivery is bounded (review): each stored new group started its own POST, holding a socket up to 10 s
// for each of 6 attempts, so with a webhook that never answers the collector held 1,002 file descriptors and
// devices' reports were reset. Now a few POSTs run at once from a bounded queue, new-group alerts (stored or
// not) are limited per minute, and what is left out is merged into one more-alerts alert that counts it.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { type Alert, AlertSender, openSqliteStore, startCollector } from "@keypin/collect";
import { createChain, makeTempDir, unrelatedPin } from "@keypin/testkit";
import { post, trustKitAndroidReport } from "./helpers.js";

/** A webhook that holds every request until `release`, then answers 204; counts its open connections. */
async function hangingWebhook() {
  const received: Alert[] = [];
  const held: ServerResponse[] = [];
  let open = 0;
  let maxOpen = 0;
  let answering = false;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      if (answering) res.writeHead(204).end();
      else held.push(res);
    });
  });
  server.on("connection", (socket) => {
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    socket.on("close", () => {
      open -= 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    release() {
      answering = true;
      for (const res of held.splice(0)) res.writeHead(204).end();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A report nobody pins (a misconfiguration), of its own group by host. */
const reportOf = (host: string): string =>
  JSON.stringify({ hostname: host, "known-pins": [], "validated-certificate-chain": [] });

const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(ok(), what);
};

test("a webhook that never answers holds at most `concurrency` sockets; the overflow is one more-alerts alert that counts every group", async () => {
  using temp = makeTempDir("keypin-alerts-queue-");
  const hook = await hangingWebhook();
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const alerts = new AlertSender({
    webhook: hook.url,
    maxQueued: 10,
    newGroupsPerMinute: 1000,
    newGroupsPerClientPerMinute: 1000,
  });
  const now = Date.parse("2026-12-01T10:00:10Z");
  const collector = await startCollector({ store, alerts, now: () => now });
  try {
    const statuses = new Set<number>();
    for (let i = 0; i < 200; i += 20) {
      const batch = Array.from({ length: 20 }, (_, k) =>
        post(collector.url, reportOf(`g${i + k}.queue.keypin.test`)),
      );
      for (const answer of await Promise.all(batch)) statuses.add(answer.status);
    }
    assert.deepEqual([...statuses], [201], "every report stored and answered");
    await waitFor("four POSTs reached the webhook", () => hook.received.length === 4);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(hook.maxOpen, 4, "four sockets at most (before: one per group, 200)");
    assert.equal(hook.received.length, 4);
    hook.release();
    await alerts.pending();
    const groups = hook.received.filter((a) => a.event === "new-group");
    const more = hook.received.filter((a) => a.event === "more-alerts");
    // Four in flight, ten queued, the rest merged into one alert.
    assert.equal(groups.length, 14);
    assert.equal(more.length, 1, JSON.stringify(hook.received.map((a) => a.event)));
    const summary = more[0] as Extract<Alert, { event: "more-alerts" }>;
    assert.equal(summary.newGroups, 186);
    assert.deepEqual(summary.byClassification, { misconfiguration: 186 });
    assert.equal(summary.hosts.length, 10);
    const named = new Set([...groups.map((a) => (a as { host: string }).host), ...summary.hosts]);
    assert.equal(named.size, 24, "no host both alerted and merged");
  } finally {
    await collector.close();
    await store.close();
    await hook.close();
  }
});

test("new-group alerts are limited per minute, stored ones too: the rest of the minute is one more-alerts alert, and the next minute alerts again", async () => {
  using temp = makeTempDir("keypin-alerts-rate-");
  const hook = await hangingWebhook();
  hook.release();
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  // Every report is from 127.0.0.1: its share is lifted, the bound for all clients is under test.
  const alerts = new AlertSender({
    webhook: hook.url,
    newGroupsPerMinute: 5,
    newGroupsPerClientPerMinute: 1000,
  });
  let now = Date.parse("2026-12-01T10:00:10Z");
  const collector = await startCollector({ store, alerts, now: () => now });
  try {
    for (let i = 0; i < 12; i++)
      assert.equal((await post(collector.url, reportOf(`r${i}.rate.keypin.test`))).status, 201);
    await waitFor("five alerts", () => hook.received.length === 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(hook.received.length, 5, "the rest waits for the minute's end");
    // The next minute's first new group: the last minute's summary is said, then the group.
    now += 60_000;
    assert.equal((await post(collector.url, reportOf("next.rate.keypin.test"))).status, 201);
    await alerts.pending();
    const events = hook.received.map((a) => a.event);
    assert.deepEqual(events.slice(0, 5), Array(5).fill("new-group"));
    assert.deepEqual(events.slice(5).sort(), ["more-alerts", "new-group"]);
    const summary = hook.received.find((a) => a.event === "more-alerts") as Extract<
      Alert,
      { event: "more-alerts" }
    >;
    assert.equal(summary.newGroups, 7);
    assert.equal(summary.since, "2026-12-01T10:00:10.000Z");
    assert.ok(hook.received.some((a) => a.event === "new-group" && a.host === "next.rate.keypin.test"));
  } finally {
    await collector.close();
    await store.close();
    await hook.close();
  }
});

test("made-up misconfiguration groups use up neither the minute's alerts nor the queue of an interception", async () => {
  using temp = makeTempDir("keypin-alerts-priority-");
  const hook = await hangingWebhook();
  const store = await openSqliteStore(join(temp.dir, "r.db"));
  const alerts = new AlertSender({
    webhook: hook.url,
    maxQueued: 5,
    newGroupsPerMinute: 10,
    newGroupsPerClientPerMinute: 1000,
  });
  const collector = await startCollector({ store, alerts, now: () => Date.parse("2026-12-01T10:00:10Z") });
  try {
    for (let i = 0; i < 30; i++)
      assert.equal((await post(collector.url, reportOf(`j${i}.junk.keypin.test`))).status, 201);
    await waitFor("four POSTs held", () => hook.received.length === 4);
    const host = "api.priority.keypin.test";
    const chain = await createChain("p256", [host], "alert priority");
    const answer = await post(
      collector.url,
      JSON.stringify(trustKitAndroidReport(chain, host, 443, [unrelatedPin()])),
    );
    assert.equal(answer.json.classification, "interception");
    hook.release();
    await alerts.pending();
    const intercepted = hook.received.filter((a) => a.event === "new-group" && a.host === host);
    assert.equal(intercepted.length, 1, "its own alert, not a line in more-alerts");
    const summary = hook.received.find((a) => a.event === "more-alerts") as Extract<
      Alert,
      { event: "more-alerts" }
    >;
    // 10 misconfiguration alerts passed the minute's limit: 4 sent, 5 queued less the one the interception took.
    assert.deepEqual(summary.byClassification, { misconfiguration: 30 - 4 - 4 });
    assert.equal(hook.received.filter((a) => a.event === "new-group").length, 4 + 4 + 1);
  } finally {
    await collector.close();
    await store.close();
    await hook.close();
  }
});
